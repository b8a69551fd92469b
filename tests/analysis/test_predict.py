import numpy as np
import pytest

from rsigym.analysis.curves import Curve
from rsigym.analysis.learned import LearnedPredictor, compare_predictors, curve_features, FEATURES
from rsigym.analysis.predict import backtest, default_ks, predict, predict_curve, summarise_backtest
from rsigym.analysis.runlog import load_runs


def as_curve(loss) -> Curve:
    t = np.arange(len(loss))
    return Curve(t, t * 60.0, loss)


def test_parametric_prediction_of_a_power_law_from_its_first_third(curve_of):
    truth = curve_of(0.2, 0.8, 0.7, 30)
    noisy = curve_of(0.2, 0.8, 0.7, 30, noise=0.004, seed=4)
    p = predict_curve(as_curve(noisy), k=10, horizon=30)
    # From 11 noisy points a Weibull can pass for the power law: the point estimate only has to
    # beat persistence clearly, and the interval (which re-chooses the family) has to cover the truth.
    assert abs(p.value - truth[30]) < 0.6 * abs(p.best_at_k - truth[30])
    assert p.low <= truth[30] <= p.high
    assert p.low <= p.value <= p.high <= p.best_at_k  # best-so-far never rises


def test_predict_is_the_calibrated_forecast(curve_of):
    p = predict(as_curve(curve_of(0.2, 0.8, 0.7, 30)), k=10, horizon=30)
    assert p.family in ("persistence", "linear", "parametric", "learned")
    assert p.low <= p.value <= p.high <= p.best_at_k


def test_predict_rejects_a_horizon_before_k(curve_of):
    with pytest.raises(ValueError, match="horizon"):
        predict(as_curve(curve_of(0.2, 0.8, 0.7, 10)), k=8, horizon=5)


def test_backtest_on_logged_runs(make_log, curve_of, tmp_path):
    for seed, (l_inf, alpha) in enumerate([(0.1, 0.5), (0.3, 0.9), (0.0, 0.7), (0.2, 1.2)]):
        make_log(f"g{seed}", [curve_of(l_inf, 0.9, alpha, 24, noise=0.003, seed=seed)], seed=seed)
    runs = load_runs([tmp_path])
    ks = default_ks(24)
    assert ks == [6, 12, 18]
    summary = summarise_backtest(backtest(runs, ks, n_boot=10))
    assert [s.k for s in summary] == ks and all(s.n == 4 for s in summary)
    # On smooth curves the fit beats persistence, and more data predicts better.
    assert all(s.mae < s.persistence_mae for s in summary)
    assert summary[-1].mae < summary[0].mae


def test_learned_predictor_on_held_out_runs(make_log, curve_of, tmp_path):
    # Curves whose remaining gain is predictable from the gain so far: a corpus with a law to learn.
    rng = np.random.default_rng(0)
    for i in range(8):
        make_log(f"c{i}", [curve_of(rng.uniform(0, 0.4), rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.2), 16,
                                       noise=0.004, seed=i)], seed=i)
    runs = load_runs([tmp_path])
    comparisons = compare_predictors(runs, [6, 10], folds=4)
    assert [c.k for c in comparisons] == [6, 10] and all(c.n == 8 for c in comparisons)
    for c in comparisons:
        assert c.learned_mae < c.persistence_mae
        assert c.parametric_mae < c.persistence_mae

    model = LearnedPredictor().fit([r.curve() for r in runs], [6, 10])
    value, low, high = model.predict(runs[0].curve(), 6, 16)
    assert low <= value <= high <= runs[0].curve().best_at(6)
    assert curve_features(runs[0].curve(), 6, 16).shape == (len(FEATURES),)
