"""Kaggle-style tabular tasks: a data builder per folder, one shared grader."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from rsigym.envs.kaggle.grading import check_metric_direction, grade_submission
from rsigym.sandbox import ExecResult
from rsigym.tasks import Grade, RunContext, Task

PUBLIC_FRACTION = 0.5  # of the test rows, scored for reward; the rest is the private leaderboard


class TabularData(NamedTuple):
    """What a data builder returns: tables with an ``id`` column; the test target is kept apart."""

    train: pd.DataFrame  # features + "target"
    test: pd.DataFrame  # features only
    test_target: np.ndarray


class MLETask(Task):
    """A tabular competition: ``data.py`` in the task folder builds it, ``grading.py`` scores it."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        check_metric_direction(self.id, self.spec.metric, self.spec.direction)

    def build(self, rng: np.random.Generator, scale: str) -> TabularData:
        """The instance's tables; ``rng`` (keyed by the instance secret) makes every random choice."""
        module = importlib.import_module(f"rsigym.envs.toy.{self.folder.name}.data")
        return module.build(rng, scale)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        rng = self.instance_rng(seed, private_dir)
        data = self.build(rng, scale)
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        data.train.to_csv(data_dir / "train.csv", index=False)
        data.test.to_csv(data_dir / "test.csv", index=False)
        pd.DataFrame({"id": data.test["id"], "target": data.train["target"].iloc[0]}).to_csv(
            data_dir / "sample_submission.csv", index=False
        )
        order = rng.permutation(len(data.test))
        split = np.where(order < int(len(order) * PUBLIC_FRACTION), "public", "private")
        labels = pd.DataFrame({"id": data.test["id"], "target": data.test_target, "split": split})
        labels.to_csv(private_dir / "labels.csv", index=False)

    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        grade = grade_submission(ctx.output_dir / "submission.csv", ctx.private_dir / "labels.csv", self.spec.metric)
        return grade._replace(details={"medal": self.medal(grade.public)}) if grade.valid else grade


def split_table(features: pd.DataFrame, target: np.ndarray, rng: np.random.Generator, test_fraction: float, stratify: bool) -> TabularData:
    """Shuffle rows with ``rng``, add shuffled ids and hold out a test part."""
    from sklearn.model_selection import train_test_split

    frame = features.reset_index(drop=True).copy()
    frame.insert(0, "id", rng.permutation(len(frame)) + 100_000)
    split_state = np.random.RandomState(rng.integers(0, 2**32, size=8, dtype=np.uint64).astype(np.uint32))
    train, test, y_train, y_test = train_test_split(
        frame, np.asarray(target), test_size=test_fraction, random_state=split_state, stratify=target if stratify else None
    )
    train = train.assign(target=y_train).reset_index(drop=True)
    return TabularData(train, test.reset_index(drop=True), np.asarray(y_test))
