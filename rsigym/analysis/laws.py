"""Laws across runs: velocity ≈ a·x^b against a run covariate, fitted in log-log space.

Runs carry covariates (model size, agent complexity, compute budget) in their log. The fit is
ordinary least squares of ``log v`` on ``log x`` with Student-t intervals on ``log a`` and
``b``. Runs whose velocity or covariate is not positive have no logarithm and are dropped
(and counted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy import stats

from rsigym.analysis.curves import curve_metrics
from rsigym.analysis.runlog import Run


@dataclass(frozen=True)
class LawFit:
    """``y ≈ a·x^b`` with confidence intervals, and the points it was fitted on."""

    covariate: str
    metric: str
    a: float
    b: float
    a_interval: tuple[float, float]
    b_interval: tuple[float, float]
    r2: float
    x: tuple[float, ...]
    y: tuple[float, ...]
    dropped: int
    labels: tuple[str, ...] = ()  # what each kept point is (e.g. its agent+model), for plots

    @property
    def n(self) -> int:
        return len(self.x)

    def __call__(self, x: Sequence[float] | float) -> np.ndarray:
        return self.a * np.power(np.asarray(x, dtype=float), self.b)


def fit_power_law(x: Sequence[float], y: Sequence[float], level: float = 0.95, covariate: str = "x",
                  metric: str = "y", labels: Sequence[str] = ()) -> LawFit:
    """Log-log least squares of ``y = a·x^b`` over the points with x > 0 and y > 0."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    n = int(keep.sum())
    if n < 3 or np.ptp(lx) == 0:
        raise ValueError(f"need at least 3 positive points at 2+ distinct {covariate} values, got {n}")
    design = np.column_stack([np.ones(n), lx])
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    residuals = ly - design @ coef
    dof = n - 2
    sigma2 = float(residuals @ residuals) / dof if dof > 0 else math.nan
    stderr = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
    half = stats.t.ppf(0.5 + level / 2, dof) * stderr
    total = float(((ly - ly.mean()) ** 2).sum())
    return LawFit(
        covariate, metric,
        a=float(np.exp(coef[0])), b=float(coef[1]),
        a_interval=(float(np.exp(coef[0] - half[0])), float(np.exp(coef[0] + half[0]))),
        b_interval=(float(coef[1] - half[1]), float(coef[1] + half[1])),
        r2=1 - float(residuals @ residuals) / total if total > 0 else math.nan,
        x=tuple(map(float, x[keep])), y=tuple(map(float, y[keep])), dropped=int((~keep).sum()),
        labels=tuple(label for label, kept in zip(labels, keep) if kept),
    )


def numeric_covariates(runs: Iterable[Run]) -> list[str]:
    """Covariate names that hold a positive number in at least three runs with two distinct values."""
    values: dict[str, set[float]] = {}
    counts: dict[str, int] = {}
    for run in runs:
        for name, value in run.covariates.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                values.setdefault(name, set()).add(float(value))
                counts[name] = counts.get(name, 0) + 1
    return sorted(name for name in values if counts[name] >= 3 and len(values[name]) >= 2)


def velocity(run: Run) -> float:
    """Gain per iteration of one run."""
    return curve_metrics(run.curve()).velocity


def law_over_runs(runs: Sequence[Run], covariate: str, metric: Callable[[Run], float] = velocity,
                  metric_name: str = "velocity", level: float = 0.95) -> LawFit:
    """Fit ``metric(run) ≈ a·covariate^b`` over the runs that carry the covariate."""
    tagged = [run for run in runs if isinstance(run.covariates.get(covariate), (int, float))]
    return fit_power_law([run.covariates[covariate] for run in tagged], [metric(run) for run in tagged],
                         level, covariate, metric_name, [run.label for run in tagged])
