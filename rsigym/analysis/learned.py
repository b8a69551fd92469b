"""A learned predictor of L(N): ridge regression over features of the first k iterations.

It is trained on a corpus of logged runs (every run gives one example per fitting window k)
and predicts the further gain ``best(N) − best(k)``, which keeps it anchored at the observed
best. :func:`compare_predictors` scores it against the parametric fit and persistence on
held-out runs (cross-validation grouped by run, so no run is both trained and tested on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsigym.analysis.curves import Curve
from rsigym.analysis.predict import predict_curve
from rsigym.analysis.runlog import Run

FEATURES = ("best_k", "gain_so_far", "recent_gain", "improving_fraction", "log_horizon_ratio",
            "log_k", "fit_extra_gain")


def curve_features(curve: Curve, k: int, horizon: int) -> np.ndarray:
    """Features of iterations 0..k for predicting the best loss at ``horizon`` (order: :data:`FEATURES`)."""
    part = curve.upto(k)
    best = part.best
    half = part.best_at(k / 2)
    steps = np.diff(best)
    try:
        extra = predict_curve(part, k, horizon, n_boot=0).value - best[-1]
    except ValueError:  # too few points for any family
        extra = 0.0
    return np.array([
        best[-1],
        best[0] - best[-1],
        half - best[-1],
        float(np.mean(steps < 0)) if steps.size else 0.0,
        math.log(horizon / max(k, 1)),
        math.log(max(k, 1)),
        extra,
    ])


@dataclass(frozen=True)
class Example:
    """One (curve, k) pair: its features and the further gain that followed, ``best(N) − best(k)``."""

    curve: int
    k: int
    horizon: int
    features: np.ndarray
    target: float

    @property
    def parametric(self) -> float:
        """The parametric fit's prediction, which the features already hold (best(k) + fitted extra gain)."""
        return float(self.features[0] + self.features[-1])


def examples(curves: Sequence[Curve], ks: Sequence[int], horizon: int | None = None) -> list[Example]:
    """Every (curve, k) with k < N ≤ the curve's last iteration; N defaults to that last iteration."""
    out = []
    for index, curve in enumerate(curves):
        target_at = int(curve.iteration[-1]) if horizon is None else horizon
        for k in ks:
            if k < target_at <= curve.iteration[-1]:
                out.append(Example(index, k, target_at, curve_features(curve, k, target_at),
                                   curve.best_at(target_at) - curve.best_at(k)))
    return out


@dataclass
class LearnedPredictor:
    """Ridge regression (regularisation chosen by internal cross-validation) on :func:`curve_features`."""

    level: float = 0.8

    def fit(self, curves: Sequence[Curve], ks: Sequence[int], horizon: int | None = None) -> "LearnedPredictor":
        """Train on every (curve, k) pair that has k < N; N defaults to each curve's last iteration."""
        return self.fit_examples(examples(curves, ks, horizon))

    def fit_examples(self, training: Sequence[Example]) -> "LearnedPredictor":
        if len(training) < 3:
            raise ValueError(f"need at least 3 training examples, got {len(training)}")
        features = np.array([e.features for e in training])
        targets = np.array([e.target for e in training])
        self.model_ = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        self.model_.fit(features, targets)
        tail = (1 - self.level) / 2
        self.residual_band_ = np.quantile(targets - self.model_.predict(features), [tail, 1 - tail])
        return self

    def predict_features(self, features: np.ndarray) -> tuple[float, float, float]:
        """(value, low, high) from one feature vector; never above best(k), its first feature."""
        best_k = float(features[0])
        extra = float(self.model_.predict(features[None, :])[0])
        value = best_k + min(extra, 0.0)
        low, high = (best_k + min(extra + band, 0.0) for band in self.residual_band_)
        return value, min(low, value), max(high, value)

    def predict(self, curve: Curve, k: int, horizon: int) -> tuple[float, float, float]:
        """(value, low, high) for the best-so-far loss at ``horizon`` from iterations 0..k."""
        return self.predict_features(curve_features(curve, k, horizon))


@dataclass(frozen=True)
class Comparison:
    """Held-out mean absolute error at one k for each predictor."""

    k: int
    n: int
    parametric_mae: float
    learned_mae: float
    persistence_mae: float


def compare_predictors(runs: Sequence[Run], ks: Sequence[int], horizon: int | None = None,
                       folds: int = 5) -> list[Comparison]:
    """Cross-validated comparison, grouped by run, of the learned, parametric and persistence predictors."""
    corpus = examples([run.curve() for run in runs], ks, horizon)
    groups = np.array([e.curve for e in corpus])
    folds = min(folds, len(set(groups.tolist())))
    if folds < 2:
        raise ValueError("need at least two runs long enough to compare predictors")
    errors: dict[int, list[tuple[float, float, float]]] = {k: [] for k in ks}
    for train, test in GroupKFold(n_splits=folds).split(corpus, groups=groups):
        learned = LearnedPredictor().fit_examples([corpus[i] for i in train])
        for e in (corpus[i] for i in test):
            best_k = float(e.features[0])
            actual = best_k + e.target
            errors[e.k].append((abs(e.parametric - actual), abs(learned.predict_features(e.features)[0] - actual),
                                abs(best_k - actual)))
    return [Comparison(k, len(rows), *map(float, np.mean(rows, axis=0))) for k, rows in errors.items() if rows]
