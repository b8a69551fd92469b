"""Trusted grading of ``submission.csv`` files: validation with clear errors, then the metric."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics

from rsigym.tasks import Grade

METRICS = {
    "accuracy": ("max", lambda y, p: metrics.accuracy_score(y, p)),
    "roc_auc": ("max", lambda y, p: metrics.roc_auc_score(y, p)),
    "rmse": ("min", lambda y, p: math.sqrt(metrics.mean_squared_error(y, p))),
    "rmsle": ("min", lambda y, p: math.sqrt(metrics.mean_squared_log_error(y, p))),
}
MAX_SUBMISSION_BYTES = 64 * 1024**2


class SubmissionError(ValueError):
    """A submission that cannot be scored; the message tells the agent what to fix."""


def read_submission(path: Path, expected_ids: np.ndarray, metric: str, labels: np.ndarray | None) -> pd.Series:
    """Validate ``submission.csv`` and return its predictions indexed by id."""
    if not path.is_file():
        raise SubmissionError("no submission.csv was written to $RSI_OUTPUT_DIR")
    if path.stat().st_size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"submission.csv is larger than {MAX_SUBMISSION_BYTES} bytes")
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - any parse failure is the agent's to fix
        raise SubmissionError(f"submission.csv is not a readable CSV: {err}") from err
    if list(frame.columns) != ["id", "target"]:
        raise SubmissionError(f"submission.csv must have columns ['id', 'target'], found {list(frame.columns)}")
    if len(frame) != len(expected_ids):
        raise SubmissionError(f"submission.csv has {len(frame)} rows, expected {len(expected_ids)} (one per test id)")
    if frame["id"].duplicated().any():
        raise SubmissionError("submission.csv repeats ids: " + ", ".join(map(str, frame["id"][frame["id"].duplicated()].head(5))))
    missing = set(expected_ids.tolist()) - set(frame["id"].tolist())
    if missing:
        raise SubmissionError(f"submission.csv lacks {len(missing)} test ids, e.g. {sorted(missing)[:5]}; wrong ids?")
    values = frame.set_index("id")["target"]
    if values.isna().any():
        raise SubmissionError(f"submission.csv has {int(values.isna().sum())} missing (NaN) predictions")
    if labels is not None:
        unknown = set(values.unique().tolist()) - set(labels.tolist())
        if unknown:
            raise SubmissionError(f"unknown class labels {sorted(map(str, unknown))[:5]}; expected one of {sorted(labels.tolist())}")
        return values
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or not np.isfinite(numeric.to_numpy(dtype=float)).all():
        raise SubmissionError("submission.csv predictions must be finite numbers")
    if metric == "roc_auc" and ((numeric < 0) | (numeric > 1)).any():
        raise SubmissionError("probabilities must lie in [0, 1]")
    if metric == "rmsle" and (numeric < 0).any():
        raise SubmissionError("rmsle needs non-negative predictions")
    return numeric.astype(float)


def grade_submission(path: Path, labels_path: Path, metric: str) -> Grade:
    """Score a submission on the public and private splits held in ``labels.csv``."""
    truth = pd.read_csv(labels_path)
    classes = np.unique(truth["target"]) if metric == "accuracy" else None
    try:
        predictions = read_submission(path, truth["id"].to_numpy(), metric, classes)
    except SubmissionError as err:
        return Grade(False, error=f"invalid submission: {err}")
    score = METRICS[metric][1]
    scores = {}
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught below, as a non-finite score
        for split in ("public", "private"):
            rows = truth[truth["split"] == split]
            scores[split] = float(score(rows["target"].to_numpy(), predictions.loc[rows["id"]].to_numpy()))
        # Validity is judged on all test rows together: judged per split, two huge predictions
        # overflowed the squared error only when both rows were in the same (secret) split.
        overall = float(score(truth["target"].to_numpy(), predictions.loc[truth["id"]].to_numpy()))
    if not all(math.isfinite(value) for value in (overall, *scores.values())):
        # e.g. predictions of 1e308: finite, but their squared error overflows to inf
        return Grade(False, error=f"invalid submission: the {metric} of these predictions is not finite; keep them in a sane range")
    return Grade(True, scores["public"], scores["private"])


def check_metric_direction(task_id: str, metric: str, direction: str) -> None:
    """Refuse a task spec whose direction contradicts its metric (an AUC must be 'max'-better)."""
    expected = METRICS[metric][0]
    if expected != direction:
        raise ValueError(f"{task_id}: metric {metric} is '{expected}'-better, spec says {direction}")
