"""Post-training tasks: improve a cached base model (SFT, RL with a verifiable reward, synthetic data)."""
from __future__ import annotations

from pathlib import Path

from rsigym.tasks import Task

SUITE_DIR = Path(__file__).parent


def load_tasks() -> list[Task]:
    """The suite's tasks, in a stable order."""
    from rsigym.envs.posttrain.addition.task import AdditionTask

    return [AdditionTask(SUITE_DIR / "addition")]
