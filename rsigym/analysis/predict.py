"""Predicting L(N) from the first k iterations, and backtesting those predictions on logged runs.

The target is the best-so-far public loss at iteration N: what an agent that keeps its best
iteration would hold. :func:`predict` is the calibrated forecast of :mod:`rsigym.analysis.forecast`
(the method chosen by cross-validated CRPS on the run corpus; k ≥ ``MIN_K`` = 4). The parametric
predictor :func:`predict_curve` fits the curve families of :mod:`rsigym.analysis.fits` to
iterations 0..k and takes the AICc choice; its interval comes from a residual bootstrap that
refits every family and chooses again. It is one of the forecaster's methods, kept for the
report's per-run plots. Persistence (``L(N) = best(k)``) is the baseline any predictor has to beat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from rsigym.analysis.curves import Curve
from rsigym.analysis.fits import fit_all
from rsigym.analysis.forecast import forecast
from rsigym.analysis.runlog import Run
from rsigym.loss import LOSS_MIN


@dataclass(frozen=True)
class Prediction:
    """A predicted best-so-far loss at iteration ``horizon`` from iterations 0..k."""

    k: int
    horizon: int
    value: float
    low: float
    high: float
    family: str
    params: dict[str, float]
    best_at_k: float


def predict_curve(curve: Curve, k: int, horizon: int, level: float = 0.8, n_boot: int = 100,
                  seed: int = 0) -> Prediction:
    """Fit iterations 0..k of ``curve`` and predict its best-so-far loss at ``horizon``."""
    if horizon < k:
        raise ValueError(f"horizon {horizon} is before the last fitted iteration {k}")
    part = curve.upto(k)
    t, y = part.iteration, part.best
    fits = fit_all(t, y)
    fit = fits[0]
    best_k = float(np.nanmin(y))
    # The best-so-far loss never rises, so L(N) <= best(k); it cannot fall below the clip floor.
    bound = lambda value: float(np.clip(value, LOSS_MIN, best_k))  # noqa: E731
    value = bound(fit(horizon))
    rng = np.random.default_rng(seed)
    fitted = fit(t)
    residuals = y - fitted
    starts = {f.family: list(f.params.values()) for f in fits}
    draws = []
    for _ in range(n_boot if fit.rss > 0 else 0):
        # Every family is refitted and chosen again, so the interval carries model-choice uncertainty.
        refit = fit_all(t, fitted + rng.choice(residuals, size=len(y)), starts=starts)[0]
        # Each draw also carries one observation's worth of residual noise.
        draws.append(bound(refit(horizon) + rng.choice(residuals)))
    tail = (1 - level) / 2
    low, high = (np.quantile(draws, [tail, 1 - tail]) if draws else (value, value))
    return Prediction(k, horizon, value, float(min(low, value)), float(max(high, value)),
                      fit.family, fit.params, best_k)


def predict(run: Run | Curve, k: int, horizon: int) -> Prediction:
    """``predict(run, k, N)``: the best-so-far loss at iteration N forecast from iterations 0..k.

    The value is the forecast's median and (low, high) its calibrated 80 % interval; ``family``
    names the forecast method. Raises :class:`~rsigym.analysis.forecast.ForecastError` for k < 4.
    """
    result = forecast(run, horizon, k)
    return Prediction(k, horizon, result.value, result.low, result.high, result.method, {}, result.best_at_k)


@dataclass(frozen=True)
class BacktestRow:
    """One prediction of one held-out future, next to what happened."""

    run: str
    k: int
    horizon: int
    predicted: float
    low: float
    high: float
    family: str
    persistence: float  # best(k)
    actual: float  # best(N)

    @property
    def error(self) -> float:
        return abs(self.predicted - self.actual)

    @property
    def persistence_error(self) -> float:
        return abs(self.persistence - self.actual)

    @property
    def covered(self) -> bool:
        return self.low - 1e-9 <= self.actual <= self.high + 1e-9


def backtest(runs: Iterable[Run], ks: Sequence[int], horizon: int | None = None,
             n_boot: int = 100) -> list[BacktestRow]:
    """Predict each run's best loss at ``horizon`` (default: its last iteration) from its first k iterations."""
    rows = []
    for run in runs:
        curve = run.curve()
        target = int(curve.iteration[-1]) if horizon is None else horizon
        if curve.iteration[-1] < target:
            continue
        for k in ks:
            if k >= target or len(curve.upto(k)) < 5:
                continue
            guess = predict_curve(curve, k, target, n_boot=n_boot)
            rows.append(BacktestRow(run.key, k, target, guess.value, guess.low, guess.high, guess.family,
                                    guess.best_at_k, curve.best_at(target)))
    return rows


@dataclass(frozen=True)
class BacktestSummary:
    """Prediction error at one k, over runs."""

    k: int
    n: int
    mae: float
    persistence_mae: float
    coverage: float


def summarise_backtest(rows: Sequence[BacktestRow]) -> list[BacktestSummary]:
    """Mean absolute error of the fit and of persistence, and interval coverage, per k."""
    summaries = []
    for k in sorted({row.k for row in rows}):
        at_k = [row for row in rows if row.k == k]
        summaries.append(BacktestSummary(
            k, len(at_k),
            float(np.mean([row.error for row in at_k])),
            float(np.mean([row.persistence_error for row in at_k])),
            float(np.mean([row.covered for row in at_k])),
        ))
    return summaries


def default_ks(iterations: int) -> list[int]:
    """Fitting windows for a backtest of runs ``iterations`` long: a quarter, half and three quarters."""
    return sorted(k for k in {max(4, math.floor(iterations * f)) for f in (0.25, 0.5, 0.75)} if k < iterations)

