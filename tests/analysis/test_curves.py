import math

import pytest

from rsigym.analysis.curves import Curve, curve_metrics


def test_metrics_of_a_hand_computed_curve():
    # iterations 0..4; a bad edit at 2 is undone at 3; the starter's evaluation cost 600 s.
    curve = Curve(iteration=[0, 1, 2, 3, 4], compute_s=[600, 1500, 2400, 3300, 4200],
                  loss=[0.8, 0.6, 0.9, 0.5, 0.3],
                  kinds=[(), ("code",), ("weight",), ("code", "harness"), ()])
    m = curve_metrics(curve)
    assert m.gain == pytest.approx(0.5)
    assert m.gap_closed == pytest.approx(0.5 / 0.8)
    assert m.velocity == pytest.approx(0.5 / 4)
    assert m.velocity_per_compute_hour == pytest.approx(0.5 / 1.0)  # one hour spent improving
    assert m.best_loss == pytest.approx(0.3)
    assert m.t_half == 4 and m.t_half_compute_s == 3600  # best first ≤ 0.4 at iteration 4
    # best so far 0.8, 0.6, 0.6, 0.5 held for one iteration each, over 4 iterations and L0 = 0.8
    assert m.auc_best == pytest.approx((0.8 + 0.6 + 0.6 + 0.5) / (4 * 0.8))
    # 0.2 by code; -0.3 by weight; 0.4 shared by code and harness; 0.2 with no edit (other)
    assert m.attribution == pytest.approx({"code": 0.4, "weight": -0.3, "harness": 0.2, "other": 0.2})
    assert sum(m.attribution.values()) == pytest.approx(m.gain)


def test_no_progress_and_no_compute():
    m = curve_metrics(Curve([0, 1, 2], [0, 0, 0], [1.0, 1.2, 1.0]))
    assert m.gain == 0 and m.velocity == 0
    assert math.isnan(m.velocity_per_compute_hour)
    assert m.t_half == math.inf
    assert m.auc_best == pytest.approx(1.0)
    assert m.attribution["other"] == pytest.approx(0.0)


def test_best_at_and_upto():
    curve = Curve([0, 2, 5], [0, 1, 2], [1.0, 0.7, 0.8])
    assert curve.best_at(4) == pytest.approx(0.7)
    assert curve.best_at(5) == pytest.approx(0.7)
    assert len(curve.upto(2)) == 2
    with pytest.raises(ValueError):
        Curve([0, 1], [0], [1.0, 0.5])
