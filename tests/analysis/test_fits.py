"""Fits recover known parameters of synthetic curves.

Stated tolerance, for 31 points with Gaussian noise σ = 0.003 on a drop A of 0.6-0.9:
|ΔL∞| ≤ 0.03, |ΔA| ≤ 0.03 and shape parameters (α, τ, κ, δ) within 15 % relative.
"""
import numpy as np
import pytest

from rsigym.analysis.fits import FAMILIES, aicc, fit_curve, fit_family

TRUE = {
    "power_law": {"l_inf": 0.2, "a": 0.8, "alpha": 0.7},
    "exp_saturation": {"l_inf": 0.3, "a": 0.7, "tau": 4.0},
    "weibull": {"l_inf": 0.1, "a": 0.9, "tau": 6.0, "delta": 1.8},
    "mmf": {"l_inf": 0.25, "a": 0.6, "kappa": 3.0, "delta": 1.4},
}
T = np.arange(31.0)


def synthetic(family: str, seed: int) -> np.ndarray:
    clean = FAMILIES[family].func(T, *TRUE[family].values())
    return clean + np.random.default_rng(seed).normal(0, 0.003, T.size)


@pytest.mark.parametrize("family", sorted(TRUE))
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_recovers_parameters(family, seed):
    fit = fit_family(family, T, synthetic(family, seed))
    for name, truth in TRUE[family].items():
        got = fit.params[name]
        if name in ("l_inf", "a"):
            assert abs(got - truth) <= 0.03, (name, got, truth)
        else:
            assert abs(got - truth) <= 0.15 * truth, (name, got, truth)
    assert fit.sigma == pytest.approx(0.003, rel=0.5)


@pytest.mark.parametrize("family", ["power_law", "exp_saturation"])
def test_aicc_picks_the_generating_three_parameter_family(family):
    # A four-parameter family nests each of these; AICc must not prefer it for nothing.
    assert fit_curve(T, synthetic(family, 2)).family == family


def test_flat_curve_prefers_few_parameters_and_stays_flat():
    fit = fit_curve(T, np.full(T.size, 0.8))
    assert len(fit.params) == 3
    np.testing.assert_allclose(fit([0, 100, 1000]), 0.8, atol=1e-6)


def test_aicc_penalises_parameters_and_needs_enough_points():
    assert aicc(0.1, 20, 4) > aicc(0.1, 20, 3)
    assert aicc(0.1, 4, 3) == np.inf
    with pytest.raises(ValueError, match="cannot fit"):
        fit_curve([0, 1, 2], [1.0, 0.9, 0.8])
