"""Calibrated forecasts of the best-so-far loss L(N) from a run's first k iterations.

The target is ``best(N)``, the lowest public loss evaluated up to iteration N (what an agent that
keeps its best iteration would hold). Every method predicts the further *relative gain*

    z = (best(k) − best(N)) / (|best(k)| + SCALE_FLOOR)   ≥ 0

as a set of quantiles at :data:`LEVELS`, which are turned back into losses. That makes every
forecast never above best(k) and, as each quantile is the lowest over the horizons k+1..N,
non-increasing in N; bounded below by the loss floor −1, and shrunk toward the
reference (loss 0) where it would pass it: the part of a forecast below 0 is halved. A third of
the corpus's runs do end below 0, but mostly by little (18 % below −0.05), and a forecast past
the reference is the least supported part of an extrapolation.

Methods (:data:`METHODS`):

* ``persistence``  z = 0: the loss stays at best(k);
* ``linear``       the trend of best-so-far over the second half of 0..k, extrapolated to N;
* ``parametric``   the AICc choice of the curve families in :mod:`rsigym.analysis.fits`;
* ``learned``      linear quantile regression of z on :func:`feature_rows` (one model per level).

Each method's quantiles are calibrated with conformal shifts: on the training corpus, grouped by
agent and task set so no group is both fitted and scored, the τ-quantile of ``z_true − ẑ_τ`` is
added to ẑ_τ. :func:`train` scores every method by that cross-validated CRPS and keeps the best
(:attr:`ForecastModel.method`). The model shipped with rsigym (``forecast_model.json`` next to this
file) is trained on the training split of the corpus in ``benchmarks/data/corpus`` by
``python benchmarks/forecast_backtest.py --write-model``.

A forecast needs at least :data:`MIN_K` iterations after the starter (k ≥ 4): below that the
features (a trend over the second half of the window, a staleness) are not defined, and
:func:`forecast` raises :class:`ForecastError`.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from rsigym.analysis.curves import Curve
from rsigym.analysis.fits import fit_all
from rsigym.analysis.runlog import Run
from rsigym.loss import LOSS_MIN

MIN_K = 4
LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 … 0.95: CRPS is read from these
SCALE_FLOOR = 0.05  # keeps z finite when best(k) is at the reference (loss 0)
BELOW_REFERENCE_SHRINK = 0.5  # the part of a forecast below loss 0 is multiplied by this
METHODS = ("persistence", "linear", "parametric", "learned")
FEATURES = ("log_horizon_ratio", "gain_fraction_so_far", "recent_gain", "improving_fraction", "staleness",
            "log_k", "best_k", "linear_gain", "horizon_x_recent")
MODEL_PATH = Path(__file__).with_name("forecast_model.json")
MAX_HORIZONS = 2000  # horizons forecast on the way to N; beyond k + 2000 they are spaced geometrically


class ForecastError(ValueError):
    """A forecast asked for with too little of the run, or a horizon before k."""


@dataclass(frozen=True)
class Forecast:
    """The best-so-far loss at iteration ``horizon`` forecast from iterations 0..k."""

    k: int
    horizon: int
    value: float  # the median
    low: float  # the 80 % interval
    high: float
    quantiles: tuple[float, ...]  # losses at :data:`LEVELS`, non-decreasing
    method: str
    best_at_k: float


def check_window(curve: Curve, k: int, horizon: int) -> None:
    """Raise :class:`ForecastError` unless iterations 0..k are logged, k ≥ MIN_K and horizon ≥ k."""
    if k < MIN_K:
        raise ForecastError(f"a forecast needs at least k = {MIN_K} iterations after the starter; got k = {k}")
    if horizon < k:
        raise ForecastError(f"horizon {horizon} is before the last observed iteration {k}")
    if len(curve) == 0 or curve.iteration[-1] < k or np.isnan(curve.upto(k).best).all():
        last = int(curve.iteration[-1]) if len(curve) else -1
        raise ForecastError(f"the run has no evaluated iteration up to k = {k} (last iteration {last})")


def _scale(best_k: float) -> float:
    return abs(best_k) + SCALE_FLOOR


def _linear_slope(curve: Curve, k: int) -> float:
    """Least-squares slope of best-so-far over iterations k/2..k (0 with fewer than two points)."""
    part = curve.upto(k)
    keep = (part.iteration >= k / 2) & np.isfinite(part.best)
    t, y = part.iteration[keep], part.best[keep]
    if len(t) < 2 or np.ptp(t) == 0:
        return 0.0
    return float(np.polyfit(t, y, 1)[0])


def linear_gain(curve: Curve, k: int, horizon: int) -> float:
    """z of the naive linear forecast: best-so-far's least-squares slope over iterations k/2..k, to N."""
    return max(0.0, -_linear_slope(curve, k) * (horizon - k)) / _scale(float(np.nanmin(curve.upto(k).best)))


def _parametric_fit(curve: Curve, k: int):
    part = curve.upto(k)
    try:
        return fit_all(part.iteration, part.best)[0]
    except ValueError:
        return None


def feature_rows(curve: Curve, k: int, horizons: Sequence[int]) -> np.ndarray:
    """What the learned method sees of iterations 0..k, one row per horizon (columns: :data:`FEATURES`)."""
    part = curve.upto(k)
    best = part.best
    finite = np.isfinite(best)
    best_k = float(np.nanmin(best))
    best_0 = float(best[finite][0])
    scale = _scale(best_k)
    improved = np.flatnonzero(np.diff(np.where(finite, best, np.inf)) < 0)
    last_gain_at = float(part.iteration[improved[-1] + 1]) if improved.size else 0.0
    recent = (part.best_at(k / 2) - best_k) / scale if math.isfinite(part.best_at(k / 2)) else 0.0
    horizons = np.asarray(horizons, dtype=float)
    log_ratio = np.log(np.maximum(horizons, 1) / k)
    linear = np.maximum(0.0, -_linear_slope(curve, k) * (horizons - k)) / scale
    constant = lambda value: np.full(len(horizons), float(value))  # noqa: E731
    return np.column_stack([
        log_ratio,
        constant((best_0 - best_k) / (abs(best_0) + SCALE_FLOOR)),
        constant(recent),
        constant(improved.size / max(len(part) - 1, 1)),
        constant((k - last_gain_at) / k),
        constant(math.log(k)),
        constant(best_k),
        linear,
        log_ratio * recent,
    ])


def to_losses(best_k: float, z: np.ndarray) -> np.ndarray:
    """Losses from relative gains: best(k) − z·scale, halved below 0, clipped to [−1, best(k)], sorted."""
    losses = best_k - np.maximum(np.asarray(z, dtype=float), 0.0) * _scale(best_k)
    if best_k >= 0:
        losses = np.where(losses < 0, losses * BELOW_REFERENCE_SHRINK, losses)
    return np.sort(np.clip(losses, LOSS_MIN, best_k))


def pinball(actual: float, quantiles: Sequence[float], levels: Sequence[float] = LEVELS) -> np.ndarray:
    """The pinball (quantile) loss of each quantile forecast at its level."""
    diff = actual - np.asarray(quantiles, dtype=float)
    levels = np.asarray(levels, dtype=float)
    return np.maximum(levels * diff, (levels - 1) * diff)


def crps(actual: float, quantiles: Sequence[float], levels: Sequence[float] = LEVELS) -> float:
    """CRPS approximated from quantiles at evenly spaced levels: twice the mean pinball loss.

    For a point forecast (all quantiles equal) it is the absolute error, as CRPS is exactly.
    """
    return float(2 * np.mean(pinball(actual, quantiles, levels)))


@dataclass(frozen=True)
class Example:
    """One (run, k, N) case: what is known at k and the relative gain that followed."""

    group: str  # agent and task set: cross-validation never splits one
    run: str
    k: int
    horizon: int
    best_k: float
    actual: float  # best(N)
    features: np.ndarray
    parametric: float  # z of the parametric fit (computed once, it is the slow part)

    @property
    def z(self) -> float:
        return (self.best_k - self.actual) / _scale(self.best_k)

    def point_z(self, method: str) -> float:
        return {"persistence": 0.0, "linear": float(self.features[FEATURES.index("linear_gain")]),
                "parametric": self.parametric}[method]


def known_until(run: Run) -> int:
    """The last iteration whose best-so-far is known: the budget for a finished run, else the last logged."""
    last = int(run.curve().iteration[-1])
    if run.complete and run.budget is not None:
        return max(last, run.budget)
    return last


def make_examples(run: Run, k: int, horizons: Sequence[int]) -> list[Example]:
    """The cases (k, N) of one run for each N in ``horizons`` (one parametric fit serves them all)."""
    curve = run.curve()
    best_k = float(np.nanmin(curve.upto(k).best))
    fit = _parametric_fit(curve, k)
    group = f"{run.label}|{'+'.join(sorted(run.tasks))}"
    return [Example(group, run.key, k, horizon, best_k, curve.best_at(horizon), row,
                    0.0 if fit is None else max(0.0, best_k - float(fit(horizon))) / _scale(best_k))
            for horizon, row in zip(horizons, feature_rows(curve, k, horizons))]


TRAINING_KS = (4, 6, 8, 12, 16, 24)
TRAINING_RATIOS = (2, 3, 4, 6, 8)


def training_examples(runs: Iterable[Run], ks: Sequence[int] = TRAINING_KS,
                      ratios: Sequence[int] = TRAINING_RATIOS) -> list[Example]:
    """Every (k, N = ratio·k) with N within what each run makes known."""
    out = []
    for run in runs:
        until = known_until(run)
        for k in ks:
            horizons = [r * k for r in ratios if r * k <= until]
            if k >= MIN_K and horizons and len(run.curve().upto(k)) > MIN_K:
                out += make_examples(run, k, horizons)
    return out


@dataclass
class QuantileModel:
    """Linear quantile regressions of z on standardised features, one per level."""

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    coefs: list[list[float]] = field(default_factory=list)  # per level: intercept, then one per feature

    @classmethod
    def fit(cls, x: np.ndarray, z: np.ndarray, alpha: float = 1e-3) -> "QuantileModel":
        from sklearn.linear_model import QuantileRegressor

        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        xs = (x - mean) / std
        coefs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for level in LEVELS:
                model = QuantileRegressor(quantile=level, alpha=alpha, solver="highs").fit(xs, z)
                coefs.append([float(model.intercept_), *map(float, model.coef_)])
        return cls(mean.tolist(), std.tolist(), coefs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, levels) quantiles of z, sorted along levels."""
        xs = (np.atleast_2d(x) - np.asarray(self.mean)) / np.asarray(self.std)
        coefs = np.asarray(self.coefs)
        return np.sort(coefs[:, 0] + xs @ coefs[:, 1:].T, axis=1)


@dataclass
class ForecastModel:
    """The chosen method, its calibration, and every method's cross-validated scores."""

    method: str
    shifts: dict[str, list[float]]  # per method: conformal shift of z at each level
    learned: QuantileModel
    cv_scores: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> {crps, mae, coverage}
    n_examples: int = 0
    n_runs: int = 0

    def z_quantiles(self, method: str, example: Example) -> np.ndarray:
        base = (self.learned.predict(example.features)[0] if method == "learned"
                else np.full(len(LEVELS), example.point_z(method)))
        return np.sort(base + np.asarray(self.shifts[method]))

    def loss_quantiles(self, method: str, example: Example) -> np.ndarray:
        return to_losses(example.best_k, self.z_quantiles(method, example))

    def to_json(self) -> dict:
        return {"method": self.method, "levels": list(LEVELS), "features": list(FEATURES),
                "shifts": self.shifts, "learned": vars(self.learned), "cv_scores": self.cv_scores,
                "n_examples": self.n_examples, "n_runs": self.n_runs}

    @classmethod
    def from_json(cls, data: dict) -> "ForecastModel":
        if tuple(data.get("features", ())) != FEATURES or tuple(data.get("levels", ())) != LEVELS:
            raise ValueError("forecast model was trained with other features or levels; retrain it with "
                             "python benchmarks/forecast_backtest.py --write-model")
        return cls(data["method"], data["shifts"], QuantileModel(**data["learned"]), data.get("cv_scores", {}),
                   data.get("n_examples", 0), data.get("n_runs", 0))


def _conformal_shifts(z_true: np.ndarray, z_pred: np.ndarray) -> list[float]:
    """Per level τ: the τ-quantile of ``z_true − ẑ_τ`` (0 residuals when there is no data)."""
    if len(z_true) == 0:
        return [0.0] * len(LEVELS)
    residuals = z_true[:, None] - z_pred
    return [float(np.quantile(residuals[:, i], level)) for i, level in enumerate(LEVELS)]


def _score(examples: Sequence[Example], quantiles: Sequence[np.ndarray]) -> dict[str, float]:
    low, high = LEVELS.index(0.1), LEVELS.index(0.9)
    return {
        "crps": float(np.mean([crps(e.actual, q) for e, q in zip(examples, quantiles)])),
        "mae": float(np.mean([abs(q[LEVELS.index(0.5)] - e.actual) for e, q in zip(examples, quantiles)])),
        "coverage": float(np.mean([q[low] - 1e-9 <= e.actual <= q[high] + 1e-9 for e, q in zip(examples, quantiles)])),
    }


def _fit(examples: Sequence[Example]) -> tuple[QuantileModel, dict[str, list[float]]]:
    """The learned model and every method's conformal shifts, from in-sample residuals.

    The learned model's own shifts come from a grouped inner split, so they measure out-of-group error.
    """
    x = np.array([e.features for e in examples])
    z = np.array([e.z for e in examples])
    learned = QuantileModel.fit(x, z)
    shifts = {m: _conformal_shifts(z, np.array([[e.point_z(m)] * len(LEVELS) for e in examples]))
              for m in METHODS if m != "learned"}
    groups = np.array([e.group for e in examples])
    inner_true, inner_pred = [], []
    for train, test in _group_folds(groups, 3):
        inner = QuantileModel.fit(x[train], z[train])
        inner_true.append(z[test])
        inner_pred.append(inner.predict(x[test]))
    shifts["learned"] = (_conformal_shifts(np.concatenate(inner_true), np.concatenate(inner_pred))
                         if inner_true else [0.0] * len(LEVELS))
    return learned, shifts


def _group_folds(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    unique = sorted(set(groups.tolist()))
    if len(unique) < 2:
        return []
    folds = min(folds, len(unique))
    assignment = {group: i % folds for i, group in enumerate(unique)}
    fold_of = np.array([assignment[g] for g in groups])
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]


def train(runs: Sequence[Run], folds: int = 5) -> ForecastModel:
    """Fit every method on ``runs``, score each by CRPS cross-validated over agent+task groups, keep the best."""
    examples = training_examples(runs)
    if len(examples) < 20:
        raise ValueError(f"need at least 20 training cases (k, N) to train a forecaster, got {len(examples)}")
    groups = np.array([e.group for e in examples])
    cv_quantiles: dict[str, list[tuple[int, np.ndarray]]] = {m: [] for m in METHODS}
    for train_index, test_index in _group_folds(groups, folds):
        learned, shifts = _fit([examples[i] for i in train_index])
        fold = ForecastModel("learned", shifts, learned)
        for method in METHODS:
            cv_quantiles[method] += [(i, fold.loss_quantiles(method, examples[i])) for i in test_index]
    scores = {}
    for method, pairs in cv_quantiles.items():
        scores[method] = _score([examples[i] for i, _ in pairs], [q for _, q in pairs])
    best = min(METHODS, key=lambda m: scores[m]["crps"])
    learned, shifts = _fit(examples)
    return ForecastModel(best, shifts, learned, scores, len(examples), len({e.run for e in examples}))


@lru_cache(maxsize=1)
def default_model() -> ForecastModel:
    """The model shipped with rsigym (see the module docstring for how it is made)."""
    return ForecastModel.from_json(json.loads(MODEL_PATH.read_text()))


def forecast(run: Run | Curve, horizon: int, k: int | None = None, model: ForecastModel | None = None,
             method: str | None = None) -> Forecast:
    """The best-so-far loss at iteration ``horizon`` from iterations 0..k (default: every logged one).

    ``method`` overrides the model's chosen method (one of :data:`METHODS`). Raises
    :class:`ForecastError` below :data:`MIN_K` iterations or for a horizon before k.
    """
    curve = run.curve() if isinstance(run, Run) else run
    if len(curve) == 0:
        raise ForecastError("the run has no evaluation to forecast from")
    k = int(curve.iteration[-1]) if k is None else int(k)
    check_window(curve, k, horizon)
    model = model or default_model()
    method = method or model.method
    if method not in METHODS:
        raise ValueError(f"unknown forecast method {method!r}; methods: {METHODS}")
    best_k = float(np.nanmin(curve.upto(k).best))
    if horizon == k:  # nothing left to forecast
        return Forecast(k, horizon, best_k, best_k, best_k, (best_k,) * len(LEVELS), "observed", best_k)
    # Every horizon k+1..N is forecast and each quantile is the lowest over them, so a forecast
    # never rises with N (the best-so-far loss cannot).
    horizons = np.unique(np.geomspace(k + 1, horizon, MAX_HORIZONS).round().astype(int)) \
        if horizon - k > MAX_HORIZONS else np.arange(k + 1, horizon + 1)
    rows = feature_rows(curve, k, horizons)
    if method == "learned":
        z = model.learned.predict(rows)
    elif method == "parametric":
        fit = _parametric_fit(curve, k)
        gains = np.zeros(len(horizons)) if fit is None else np.maximum(0.0, best_k - fit(horizons)) / _scale(best_k)
        z = np.repeat(gains[:, None], len(LEVELS), axis=1)
    else:
        z = np.repeat(rows[:, FEATURES.index("linear_gain")][:, None] if method == "linear"
                      else np.zeros((len(horizons), 1)), len(LEVELS), axis=1)
    z = np.sort(z + np.asarray(model.shifts[method]), axis=1)
    quantiles = np.min([to_losses(best_k, row) for row in z], axis=0)
    return Forecast(k, horizon, float(quantiles[LEVELS.index(0.5)]), float(quantiles[LEVELS.index(0.1)]),
                    float(quantiles[LEVELS.index(0.9)]), tuple(map(float, quantiles)), method, best_k)


def relative_error(predicted: float, actual: float) -> float:
    """|predicted − actual| / max(|actual|, SCALE_FLOOR): relative to the loss, which is 0 at the reference."""
    return abs(predicted - actual) / max(abs(actual), SCALE_FLOOR)


@dataclass(frozen=True)
class ScoredCase:
    """One held-out forecast at k = fraction·N next to what happened, with the baselines' forecasts."""

    run: str
    k: int
    horizon: int
    actual: float
    quantiles: tuple[float, ...]  # the model's
    method: str
    persistence: float
    linear: float

    @property
    def value(self) -> float:
        return self.quantiles[LEVELS.index(0.5)]

    @property
    def covered(self) -> bool:
        return self.quantiles[LEVELS.index(0.1)] - 1e-9 <= self.actual <= self.quantiles[LEVELS.index(0.9)] + 1e-9


def score_runs(runs: Iterable[Run], model: ForecastModel | None = None, fraction: float = 0.25,
               method: str | None = None) -> list[ScoredCase]:
    """Forecast each run's best loss at N (its budget, or its last iteration) from k = fraction·N.

    Runs whose k would be below :data:`MIN_K` are skipped.
    """
    model = model or default_model()
    cases = []
    for run in runs:
        horizon = run.budget if run.complete and run.budget else int(run.curve().iteration[-1])
        k = int(horizon * fraction)
        curve = run.curve()
        if k < MIN_K or horizon <= k or curve.iteration[-1] < k:
            continue
        result = forecast(curve, horizon, k, model, method)
        linear = float(to_losses(result.best_at_k, np.array([linear_gain(curve, k, horizon)]))[0])
        cases.append(ScoredCase(run.key, k, horizon, curve.best_at(horizon), result.quantiles, result.method,
                                result.best_at_k, linear))
    return cases


def summarise_scores(cases: Sequence[ScoredCase]) -> dict[str, float]:
    """Median relative error, mean CRPS and 80 % coverage of the model, persistence and the linear forecast."""
    if not cases:
        raise ValueError("no case to score")
    model_crps = float(np.mean([crps(c.actual, c.quantiles) for c in cases]))
    persistence_crps = float(np.mean([abs(c.persistence - c.actual) for c in cases]))  # a point forecast
    linear_crps = float(np.mean([abs(c.linear - c.actual) for c in cases]))
    return {
        "n": len(cases),
        "median_relative_error": float(np.median([relative_error(c.value, c.actual) for c in cases])),
        "persistence_median_relative_error": float(np.median([relative_error(c.persistence, c.actual) for c in cases])),
        "linear_median_relative_error": float(np.median([relative_error(c.linear, c.actual) for c in cases])),
        "crps": model_crps,
        "persistence_crps": persistence_crps,
        "linear_crps": linear_crps,
        "crps_gain_over_persistence": 1 - model_crps / persistence_crps if persistence_crps > 0 else math.nan,
        "coverage_80": float(np.mean([c.covered for c in cases])),
        "mean_interval_width": float(np.mean([c.quantiles[LEVELS.index(0.9)] - c.quantiles[LEVELS.index(0.1)]
                                              for c in cases])),
    }
