import numpy as np
import pytest

from rsigym.analysis.laws import fit_power_law, law_over_runs, numeric_covariates
from rsigym.analysis.runlog import load_runs


def test_power_law_recovered_with_intervals():
    rng = np.random.default_rng(0)
    x = np.repeat(np.geomspace(1, 1000, 8), 4)
    y = 0.02 * x ** 0.5 * np.exp(rng.normal(0, 0.1, x.size))
    law = fit_power_law(x, y)
    assert law.b == pytest.approx(0.5, abs=0.05)
    assert law.a == pytest.approx(0.02, rel=0.2)
    assert law.b_interval[0] < 0.5 < law.b_interval[1]
    assert law.a_interval[0] < 0.02 < law.a_interval[1]
    assert law.r2 > 0.95 and law.n == 32 and law.dropped == 0


def test_non_positive_points_are_dropped_and_too_few_refused():
    law = fit_power_law([1, 2, 4, 8, 3], [1, 2, 4, 8, -1])
    assert law.dropped == 1 and law.b == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([1, 1, 1], [1, 2, 3])


def test_law_over_logged_runs(make_log, tmp_path):
    # velocity = gain / 10 iterations = 0.05·size^0.3 (a planted law across runs)
    for i, size in enumerate([1, 3, 10, 30, 100]):
        gain = 0.5 * size ** 0.3 / 4
        make_log(f"m{i}", [np.linspace(1.0, 1.0 - gain, 11)], covariates={"params_b": size, "name": "x"}, seed=i)
    runs = load_runs([tmp_path])
    assert numeric_covariates(runs) == ["params_b"]
    law = law_over_runs(runs, "params_b")
    assert law.b == pytest.approx(0.3, abs=1e-6)
    assert law.a == pytest.approx(0.5 / 4 / 10, rel=1e-6)
