"""The pretrain and posttrain suites: task folders, specs, edits, and (slow) calibrated behaviour.

The slow tests run real starters and strong configurations in the local sandbox at
``scale="ci"``; the stated tolerances are how far a seed's score may sit from the calibrated
baseline (the mean over seeds 0, 1 and 2).
"""
from __future__ import annotations

import json
import statistics

import pytest

from rsigym.envs import posttrain, pretrain
from rsigym.envs.lm.calibrate import lm_tasks, reference_config, score_config

TOLERANCE = {"synthlang": 0.2, "pycode": 0.1, "addition": 0.05}  # absolute, in each task's metric
# One instance against the baseline (a mean over instances): synthlang's languages, drawn from
# the instance secret, differ in difficulty (calibration scores 1.17 to 1.84 over six seeds).
INSTANCE_SPREAD = {"synthlang": 0.5, "pycode": 0.1, "addition": 0.05}
# What a menu agent can reach: the starter with these of the task's edits applied in order.
EDIT_COMBINATIONS = {
    "synthlang": ["filter-crawl", "curated-heavy-mixture", "higher-lr", "more-steps"],
    "pycode": ["higher-lr", "small-batch-many-steps"],
    "addition": ["synthetic-data", "higher-lr", "more-steps"],
}


def test_the_suites_hold_the_expected_tasks():
    assert [t.id for t in pretrain.load_tasks()] == ["synthlang", "pycode"]
    assert [t.id for t in posttrain.load_tasks()] == ["addition"]
    assert {t.spec.category for t in pretrain.load_tasks()} == {"pretrain"}
    assert {t.spec.category for t in posttrain.load_tasks()} == {"posttrain"}


@pytest.mark.parametrize("task", lm_tasks(), ids=lambda t: t.id)
def test_task_folder_is_complete(task):
    for path in ("task.json", "description.md", "starter/solution.py", "starter/config.json", "reference/config.json"):
        assert (task.folder / path).is_file(), path
    assert task.shared_lib_dir.joinpath("lmkit.py").is_file()
    assert "RSI_OUTPUT_DIR" in task.description() and "Budget" in task.description()
    assert task.timeout("ci") < task.timeout("full") and task.cpu_budget("ci") < task.cpu_budget("full")
    assert task.caps("ci").max_params < task.caps("full").max_params


@pytest.mark.parametrize("task", lm_tasks(), ids=lambda t: t.id)
def test_edits_and_the_reference_only_touch_starter_knobs(task):
    starter = task.starter_config()
    assert len(task.spec.edits) >= 4
    for edit in task.spec.edits:
        assert set(edit.set) <= set(starter), edit.name
        assert any(starter[key] != value for key, value in edit.set.items()), f"{edit.name} changes nothing"
    assert set(reference_config(task)) == set(starter)


@pytest.mark.parametrize("task", lm_tasks(), ids=lambda t: t.id)
def test_the_spec_follows_its_calibration(task):
    calibration = json.loads((task.folder / "task.json").read_text())["calibration"]
    assert task.spec.baseline == pytest.approx(statistics.mean(calibration["baseline_scores"]), abs=1e-6)
    if task.reference_limit is None:
        assert task.spec.reference == pytest.approx(statistics.mean(calibration["strong_run_scores"]), abs=1e-6)
    else:
        assert task.spec.reference == task.reference_limit
    assert task.loss(task.spec.baseline) == pytest.approx(1.0)


def mean_score(result):
    assert result.grade.valid, result.grade.error
    return (result.grade.public + result.grade.private) / 2


@pytest.mark.slow
@pytest.mark.parametrize("task", lm_tasks(), ids=lambda t: t.id)
def test_starter_scores_are_reproducible_across_seeds(task):
    scores = [mean_score(score_config(task, seed=seed)) for seed in (0, 1, 2)]
    assert all(abs(score - task.spec.baseline) <= INSTANCE_SPREAD[task.id] for score in scores), scores
    assert abs(sum(scores) / len(scores) - task.spec.baseline) <= TOLERANCE[task.id], scores
    again = score_config(task, seed=0)
    assert mean_score(again) == pytest.approx(scores[0], abs=1e-9)  # the same seed gives the same score


@pytest.mark.slow
@pytest.mark.parametrize("task", lm_tasks(), ids=lambda t: t.id)
def test_a_combination_of_edits_beats_the_starter_clearly(task):
    edits = {edit.name: edit.set for edit in task.spec.edits}
    config = task.starter_config()
    for name in EDIT_COMBINATIONS[task.id]:
        config.update(edits[name])
    result = score_config(task, config, seed=0)
    assert result.grade.valid, result.grade.error
    assert result.public_loss < 0.8 and result.private_loss < 0.8


@pytest.mark.slow
def test_the_recorded_strong_run_of_synthlang_closes_most_of_the_gap_to_the_floor():
    task = next(t for t in lm_tasks() if t.id == "synthlang")
    result = score_config(task, reference_config(task), seed=0)
    assert result.grade.valid, result.grade.error
    assert result.public_loss < 0.3
