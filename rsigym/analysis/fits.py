"""Parametric learning-curve families, least-squares fits and model choice by AICc.

Time ``t`` is the iteration number, 0 at the starter system. The families (after Domhan et
al., 2015) all fall from ``L∞ + A`` at ``t = 0`` towards ``L∞``:

* ``power_law``       ``L∞ + A·(1+t)^−α``   (the ``1+`` keeps the starter point finite)
* ``exp_saturation``  ``L∞ + A·exp(−t/τ)``
* ``weibull``         ``L∞ + A·exp(−(t/τ)^δ)``   (stretched or compressed exponential)
* ``mmf``             ``L∞ + A/(1+(t/κ)^δ)``     (Morgan-Mercer-Flodin)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import least_squares

# Losses live in [-1, 2]; the asymptote may sit anywhere in that range and the drop A is
# at most the whole range.
_L_BOUNDS = (-1.0, 2.0)
_A_BOUNDS = (0.0, 3.0)
_RSS_FLOOR = 1e-10  # keeps AIC finite on an exactly fitted (e.g. flat) curve


@dataclass(frozen=True)
class Family:
    """``L∞ + A·shape(t, θ)``: linear in (L∞, A), so θ is searched on a grid before a polish."""

    name: str
    shape_params: tuple[str, ...]
    shape: Callable[..., np.ndarray]
    shape_grad: Callable[..., list[np.ndarray]]  # ∂shape/∂θ, one array per shape parameter
    lower: tuple[float, ...]  # bounds of θ
    upper: tuple[float, ...]
    grid: Callable[[float], list[np.ndarray]]  # θ values to try, given the time span

    @property
    def params(self) -> tuple[str, ...]:
        return ("l_inf", "a", *self.shape_params)

    def func(self, t: np.ndarray, l_inf: float, a: float, *theta: float) -> np.ndarray:
        return l_inf + a * self.shape(t, *theta)

    def jacobian(self, t: np.ndarray, l_inf: float, a: float, *theta: float) -> np.ndarray:
        """∂func/∂(L∞, A, θ): analytic, because numerical differences dominate a bootstrap's cost."""
        return np.column_stack([np.ones_like(t), self.shape(t, *theta),
                                *(a * g for g in self.shape_grad(t, *theta))])


def _scales(span: float, n: int) -> np.ndarray:
    return np.geomspace(0.05, 50 * max(span, 1.0), n)


def _u_log(t: np.ndarray, scale: float, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """``u = (t/scale)^δ`` and ``u·ln(t/scale)``, the latter 0 at t = 0 (its limit)."""
    ratio = t / scale
    u = np.power(ratio, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        u_log = np.where(ratio > 0, u * np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return u, u_log


def _power_law(t, alpha):
    return np.power(1.0 + t, -alpha)


def _power_law_grad(t, alpha):
    return [-np.log1p(t) * _power_law(t, alpha)]


def _exp_saturation(t, tau):
    return np.exp(-t / tau)


def _exp_saturation_grad(t, tau):
    return [_exp_saturation(t, tau) * t / tau ** 2]


def _weibull(t, tau, delta):
    return np.exp(-np.power(t / tau, delta))


def _weibull_grad(t, tau, delta):
    u, u_log = _u_log(t, tau, delta)
    g = np.exp(-u)
    return [g * u * delta / tau, -g * u_log]


def _mmf(t, kappa, delta):
    return 1.0 / (1.0 + np.power(t / kappa, delta))


def _mmf_grad(t, kappa, delta):
    u, u_log = _u_log(t, kappa, delta)
    g2 = (1.0 / (1.0 + u)) ** 2
    return [g2 * u * delta / kappa, -g2 * u_log]


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("power_law", ("alpha",), _power_law, _power_law_grad,
               (1e-3,), (6.0,), lambda span: [np.geomspace(1e-3, 6.0, 60)]),
        Family("exp_saturation", ("tau",), _exp_saturation, _exp_saturation_grad,
               (1e-2,), (1e4,), lambda span: [_scales(span, 60)]),
        Family("weibull", ("tau", "delta"), _weibull, _weibull_grad,
               (1e-2, 0.1), (1e4, 5.0), lambda span: [_scales(span, 30), np.geomspace(0.1, 5.0, 12)]),
        Family("mmf", ("kappa", "delta"), _mmf, _mmf_grad,
               (1e-2, 0.1), (1e4, 5.0), lambda span: [_scales(span, 30), np.geomspace(0.1, 5.0, 12)]),
    )
}


def _grid_start(family: Family, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Best grid point of θ, with (L∞, A) solved by clipped linear least squares at each."""
    thetas = np.array(np.meshgrid(*family.grid(float(t.max() - t.min())), indexing="ij")).reshape(
        len(family.shape_params), -1).T
    with np.errstate(all="ignore"):
        shapes = np.stack([family.shape(t, *theta) for theta in thetas])  # (grid, n)
    g_mean = shapes.mean(axis=1, keepdims=True)
    g_centred = shapes - g_mean
    denominator = (g_centred ** 2).sum(axis=1)
    slope = np.where(denominator > 0, (g_centred * (y - y.mean())).sum(axis=1) / np.maximum(denominator, 1e-300), 0.0)
    a = np.clip(slope, *_A_BOUNDS)
    l_inf = np.clip(y.mean() - a * g_mean[:, 0], *_L_BOUNDS)
    rss = ((l_inf[:, None] + a[:, None] * shapes - y) ** 2).sum(axis=1)
    best = int(np.nanargmin(np.where(np.isfinite(rss), rss, np.nan)))
    return np.array([l_inf[best], a[best], *thetas[best]])


@dataclass(frozen=True)
class Fit:
    """A fitted family: parameters, residual sum of squares and small-sample AIC."""

    family: str
    params: dict[str, float]
    rss: float
    n: int
    aicc: float

    def __call__(self, t: Sequence[float] | float) -> np.ndarray:
        return FAMILIES[self.family].func(np.asarray(t, dtype=float), *self.params.values())

    @property
    def sigma(self) -> float:
        """Residual standard deviation (degrees of freedom corrected)."""
        dof = max(self.n - len(self.params), 1)
        return math.sqrt(self.rss / dof)


def aicc(rss: float, n: int, k: int) -> float:
    """Akaike's criterion with the small-sample correction, for Gaussian residuals."""
    aic = n * math.log(max(rss / n, _RSS_FLOOR)) + 2 * k
    return aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf


def fit_family(family: str | Family, t: Sequence[float], y: Sequence[float],
               start: Sequence[float] | None = None) -> Fit | None:
    """Least-squares fit of one family (from a grid search unless ``start`` is given); None on failure."""
    family = FAMILIES[family] if isinstance(family, str) else family
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    lower = np.array([_L_BOUNDS[0], _A_BOUNDS[0], *family.lower])
    upper = np.array([_L_BOUNDS[1], _A_BOUNDS[1], *family.upper])
    x0 = _grid_start(family, t, y) if start is None else np.asarray(start, dtype=float)
    x0 = np.clip(x0, lower + 1e-9, upper - 1e-9)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = least_squares(lambda p: family.func(t, *p) - y, x0, jac=lambda p: family.jacobian(t, *p),
                                   bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=200)
        except ValueError:
            return None
    rss = float(np.sum(result.fun ** 2))
    if not math.isfinite(rss):
        return None
    return Fit(family.name, dict(zip(family.params, map(float, result.x))), rss, len(y), aicc(rss, len(y), len(result.x)))


def fit_all(t: Sequence[float], y: Sequence[float], families: Sequence[str] | None = None,
            starts: dict[str, Sequence[float]] | None = None) -> list[Fit]:
    """Fits of every family the data can support, best AICc first (ties go to fewer parameters).

    ``starts`` warm-starts named families (a bootstrap refit) instead of their grid search.
    """
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(y)
    t, y = t[keep], y[keep]
    fits = []
    for name in families or FAMILIES:
        if len(y) - len(FAMILIES[name].params) - 1 <= 0:
            continue
        fit = fit_family(name, t, y, (starts or {}).get(name))
        if fit is not None:
            fits.append(fit)
    if not fits:
        raise ValueError(f"cannot fit a curve to {len(y)} points; need at least 5")
    return sorted(fits, key=lambda fit: (round(fit.aicc, 9), len(fit.params)))


def fit_curve(t: Sequence[float], y: Sequence[float], families: Sequence[str] | None = None) -> Fit:
    """The family with the lowest AICc; families with too many parameters for the data are skipped."""
    return fit_all(t, y, families)[0]
