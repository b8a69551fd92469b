import math

import numpy as np
import pytest

from rsigym.analysis.horizon import degenerate_reason, fit_horizon, fit_logistic, horizon_minutes, run_horizon
from rsigym.analysis.plots import minutes_label
from rsigym.analysis.runlog import load_runs
from scipy.special import expit


def test_fit_recovers_a_planted_logistic():
    beta0, beta1 = 3.0, -1.0  # 50 % horizon 2^3 = 8 minutes, 80 % horizon 2^(3 - ln 4) ≈ 3.06 minutes
    rng = np.random.default_rng(0)
    minutes = 2 ** rng.uniform(0, 8, 3000)
    success = rng.random(minutes.size) < expit(beta0 + beta1 * np.log2(minutes))
    fit = fit_horizon(minutes, success, n_boot=100)
    assert fit.beta0 == pytest.approx(beta0, abs=0.2)
    assert fit.beta1 == pytest.approx(beta1, abs=0.1)
    assert fit.h50 == pytest.approx(8.0, rel=0.1)
    assert fit.h80 == pytest.approx(2 ** (3 - math.log(4)), rel=0.15)
    assert fit.h50_interval[0] <= 8.0 <= fit.h50_interval[1]
    assert fit.h80_interval[0] < fit.h80 < fit.h80_interval[1] < fit.h50_interval[0] * 2


def test_separable_data_stays_finite_and_orders_horizons():
    minutes = [10, 10, 30, 30, 120, 120]
    b0, b1 = fit_logistic(minutes, [True, True, True, False, False, False])
    assert np.isfinite([b0, b1]).all() and b1 < 0
    assert horizon_minutes(b0, b1, 0.8) < horizon_minutes(b0, b1, 0.5)
    assert horizon_minutes(0.0, 0.5, 0.5) == math.inf  # success rising with length has no horizon


def test_horizon_over_logged_runs(make_log, tmp_path):
    # Task loss = suite loss × factor; at final suite loss 0.5: short 0.2, medium 0.45, long 0.85.
    for seed in range(3):
        make_log(f"r{seed}", [[1.0, 0.7, 0.5]], seed=seed, private_offset=0.0)
    fit, attempts = run_horizon(load_runs([tmp_path]), threshold=0.5, n_boot=50)
    assert len(attempts) == 9
    assert {(a.human_minutes, a.success) for a in attempts} == {(10, True), (30, True), (120, False)}
    assert 30 < fit.h50 < 120
    # A stricter threshold (0.3) leaves only the short task solved.
    fit, _ = run_horizon(load_runs([tmp_path]), threshold=0.3, n_boot=0)
    assert 10 < fit.h50 < 30


def test_a_nearly_flat_slope_gives_an_infinite_horizon_instead_of_overflowing():
    assert horizon_minutes(3.0, -1e-6, 0.5) == math.inf
    assert 0 < horizon_minutes(-3.0, -1e-6, 0.5) < 1e-12
    assert horizon_minutes(2.0, -1.0, 0.5) == 4.0


def test_degenerate_attempts_are_named():
    assert "same human time (10 min)" in degenerate_reason([10, 10, 10], [True, False, True])
    assert "all of the 2 attempts" in degenerate_reason([10, 30], [True, True])
    assert "none of the 2 attempts" in degenerate_reason([10, 30], [False, False])
    assert "no attempt" in degenerate_reason([], [])
    assert degenerate_reason([10, 30], [True, False]) is None


def test_minutes_read_as_durations():
    assert [minutes_label(m) for m in (0.25, 1, 15, 240, 2880)] == ["15 s", "1 min", "15 min", "4 h", "2 d"]
