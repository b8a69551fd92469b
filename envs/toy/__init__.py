"""Kaggle-style ML-engineering tasks on data that ships offline (scikit-learn's bundled sets and seeded synthetic tables)."""
from __future__ import annotations

from pathlib import Path

from rsigym.envs.toy.task import MLETask

SUITE_DIR = Path(__file__).parent


def load_tasks() -> list[MLETask]:
    """Every task folder of the suite, in a stable order."""
    return [MLETask(folder) for folder in sorted(SUITE_DIR.iterdir()) if (folder / "task.json").is_file()]
