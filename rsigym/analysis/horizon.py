"""Time horizons (METR's method): task success against the time a human needs for the task.

Each (run, task) pair is one attempt; it succeeds when the task's final loss is at or below a
stated threshold. A logistic ``p = σ(β0 + β1·log2 t)`` in the human minutes ``t`` is fitted by
maximum likelihood, and the p-horizon is the ``t`` where the fit crosses p:
``h_p = 2^((logit p − β0) / β1)``. Intervals come from a bootstrap over attempts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from rsigym.analysis.runlog import Run

# A whisper of ridge on the slope keeps the fit finite when successes and failures separate
# perfectly (common with a handful of tasks) without moving well-posed fits.
_SLOPE_RIDGE = 1e-3
# Horizons beyond 2^60 minutes (or below 2^-60) are reported as infinite (or zero) rather than overflowing.
_MAX_LOG2_MINUTES = 60.0


@dataclass(frozen=True)
class Attempt:
    """One run's final result on one task."""

    run: str
    task: str
    human_minutes: float
    loss: float
    success: bool


def task_attempts(runs: Iterable[Run], threshold: float = 0.5, split: str = "private") -> list[Attempt]:
    """Attempts of every run on every task with a ``human_minutes`` label (final losses of ``split``)."""
    attempts = []
    for run in runs:
        for task, loss in sorted(run.final_losses(split).items()):
            minutes = (run.tasks.get(task) or {}).get("human_minutes")
            if minutes:
                attempts.append(Attempt(run.key, task, float(minutes), loss, loss <= threshold))
    return attempts


def fit_logistic(minutes: Sequence[float], success: Sequence[bool]) -> tuple[float, float]:
    """Maximum-likelihood (β0, β1) of ``P(success) = σ(β0 + β1·log2 minutes)``."""
    x = np.log2(np.asarray(minutes, dtype=float))
    y = np.asarray(success, dtype=float)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = beta[0] + beta[1] * x
        nll = -np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)) + _SLOPE_RIDGE * beta[1] ** 2
        residual = expit(z) - y
        return nll, np.array([residual.sum(), (residual * x).sum() + 2 * _SLOPE_RIDGE * beta[1]])

    result = minimize(objective, np.zeros(2), jac=True, method="BFGS")
    return float(result.x[0]), float(result.x[1])


def horizon_minutes(beta0: float, beta1: float, p: float) -> float:
    """Minutes at which the fitted success probability is ``p`` (inf when success does not fall with length).

    A nearly flat slope puts the crossing astronomically far out; such fits come back as ``inf``
    (or as 2^-60 minutes on the short side) instead of overflowing.
    """
    if beta1 >= 0:
        return math.inf
    exponent = (math.log(p / (1 - p)) - beta0) / beta1
    if exponent > _MAX_LOG2_MINUTES:
        return math.inf
    return float(2.0 ** max(exponent, -_MAX_LOG2_MINUTES))


def degenerate_reason(minutes: Sequence[float], success: Sequence[bool]) -> str | None:
    """Why no horizon can be read from these attempts, or None when a logistic fit is meaningful.

    The slope needs tasks of at least two lengths, and both a success and a failure; otherwise
    the fitted horizon is an artefact of the ridge penalty, not of the data.
    """
    if len(minutes) == 0:
        return "no attempt is on a task with a `human_minutes` label"
    lengths = sorted(set(float(m) for m in minutes))
    if len(lengths) < 2:
        return (f"every task takes the same human time ({lengths[0]:g} min), so success cannot be "
                "related to task length")
    solved = sum(bool(s) for s in success)
    if solved in (0, len(success)):
        return f"{'none' if solved == 0 else 'all'} of the {len(success)} attempts succeeded"
    return None


@dataclass(frozen=True)
class HorizonFit:
    """Logistic fit of success against human minutes, with the 50 % and 80 % horizons."""

    beta0: float
    beta1: float
    h50: float
    h80: float
    h50_interval: tuple[float, float]
    h80_interval: tuple[float, float]
    n: int
    successes: int
    minutes_range: tuple[float, float]

    def probability(self, minutes: Sequence[float] | float) -> np.ndarray:
        return expit(self.beta0 + self.beta1 * np.log2(np.asarray(minutes, dtype=float)))


def fit_horizon(minutes: Sequence[float], success: Sequence[bool], n_boot: int = 500,
                level: float = 0.95, seed: int = 0) -> HorizonFit:
    """Fit the logistic and bootstrap the horizons (resampling attempts with replacement)."""
    minutes, success = np.asarray(minutes, dtype=float), np.asarray(success, dtype=bool)
    if minutes.size == 0:
        raise ValueError("no attempts with a human_minutes label")
    beta0, beta1 = fit_logistic(minutes, success)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        pick = rng.integers(0, minutes.size, minutes.size)
        b0, b1 = fit_logistic(minutes[pick], success[pick])
        draws.append((horizon_minutes(b0, b1, 0.5), horizon_minutes(b0, b1, 0.8)))
    return HorizonFit(
        beta0, beta1, horizon_minutes(beta0, beta1, 0.5), horizon_minutes(beta0, beta1, 0.8),
        _interval([d[0] for d in draws], level), _interval([d[1] for d in draws], level),
        int(minutes.size), int(success.sum()), (float(minutes.min()), float(minutes.max())),
    )


def _interval(draws: Sequence[float], level: float) -> tuple[float, float]:
    # Order statistics rather than interpolation: draws may be infinite.
    if not draws:
        return (math.nan, math.nan)
    ordered = np.sort(np.asarray(draws))
    tail = (1 - level) / 2
    lo = ordered[int(math.floor(tail * (len(ordered) - 1)))]
    hi = ordered[int(math.ceil((1 - tail) * (len(ordered) - 1)))]
    return float(lo), float(hi)


def run_horizon(runs: Iterable[Run], threshold: float = 0.5, split: str = "private",
                n_boot: int = 500) -> tuple[HorizonFit, list[Attempt]]:
    """Horizon fit over the attempts of ``runs``."""
    attempts = task_attempts(runs, threshold, split)
    fit = fit_horizon([a.human_minutes for a in attempts], [a.success for a in attempts], n_boot=n_boot)
    return fit, attempts
