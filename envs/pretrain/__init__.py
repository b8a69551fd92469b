"""Pre-training tasks: train a small language model under a fixed compute budget; graded from its checkpoint."""
from __future__ import annotations

from pathlib import Path

from rsigym.tasks import Task

SUITE_DIR = Path(__file__).parent


def load_tasks() -> list[Task]:
    """The suite's tasks, in a stable order."""
    from rsigym.envs.pretrain.pycode.task import PyCodeTask
    from rsigym.envs.pretrain.synthlang.task import SynthLangTask

    return [SynthLangTask(SUITE_DIR / "synthlang"), PyCodeTask(SUITE_DIR / "pycode")]
