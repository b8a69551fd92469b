import math

import pytest

from rsigym.loss import normalised_loss, suite_loss
from rsigym.medals import medal_ranks, medal_thresholds


@pytest.mark.parametrize("baseline, reference", [(0.8, 1.0), (60.0, 50.0)])
def test_loss_is_one_at_baseline_zero_at_reference_either_direction(baseline, reference):
    assert normalised_loss(baseline, baseline, reference) == pytest.approx(1.0)
    assert normalised_loss(reference, baseline, reference) == pytest.approx(0.0)
    beyond = reference + (reference - baseline) * 0.5
    assert normalised_loss(beyond, baseline, reference) == pytest.approx(-0.5)


@pytest.mark.parametrize("score", [None, math.nan, math.inf, True, "0.9"])
def test_missing_non_finite_or_boolean_scores_are_invalid(score):
    assert normalised_loss(score, 0.8, 1.0) == 2.0


def test_loss_is_clipped_and_invalid_costs_two():
    assert normalised_loss(-100.0, 0.8, 1.0) == 2.0
    assert normalised_loss(100.0, 0.8, 1.0) == -1.0
    assert normalised_loss(0.99, 0.8, 1.0, valid=False) == 2.0


def test_suite_loss_is_weighted_mean():
    assert suite_loss({"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 1.0}) == pytest.approx(0.75)


def test_medal_ranks_follow_mle_bench_rules():
    assert medal_ranks(50) == {"gold": 5, "silver": 10, "bronze": 20}
    assert medal_ranks(200) == {"gold": 10, "silver": 40, "bronze": 80}
    assert medal_ranks(500) == {"gold": 11, "silver": 50, "bronze": 100}
    assert medal_ranks(2000) == {"gold": 14, "silver": 100, "bronze": 200}


def test_medal_thresholds_respect_direction():
    scores = list(range(1, 51))  # 50 teams
    assert medal_thresholds(scores, "max") == {"gold": 46, "silver": 41, "bronze": 31}
    assert medal_thresholds(scores, "min") == {"gold": 5, "silver": 10, "bronze": 20}
