"""The Kaggle-style suite: specs, data, submission validation, and calibrated scores."""
import numpy as np
import pandas as pd
import pytest

from rsigym.envs.toy import load_tasks
from rsigym.envs.toy.calibrate import mean_score
from rsigym.envs.kaggle.grading import grade_submission
from rsigym.envs.toy.house_prices.data import build as build_house_prices

TASKS = {task.id: task for task in load_tasks()}


def test_suite_has_at_least_five_tasks_with_complete_specs():
    assert len(TASKS) >= 5
    for task in TASKS.values():
        spec = task.spec
        assert spec.category == "mle" and spec.human_minutes in (10, 30, 120)
        assert spec.medals and set(spec.medals) == {"gold", "silver", "bronze"}
        assert "## " in task.description(), f"{task.id}: description.md should read like a competition page"
        assert (task.starter_dir / "solution.py").is_file() and task.starter_config()
        assert spec.edits, f"{task.id} has no edits for menu and greedy agents"


def test_synthetic_table_is_big_and_messy():
    data = build_house_prices(np.random.default_rng(0), "ci")
    rows = len(data.train) + len(data.test)
    assert rows >= 20_000
    assert data.train.isna().any().sum() >= 4  # several columns with missing values
    assert sum(not pd.api.types.is_numeric_dtype(data.train[c]) for c in data.train.columns) >= 3
    target = data.train["target"]
    assert ((target - target.mean()) ** 3).mean() / target.std() ** 3 > 1.0  # right-skewed
    assert data.train["heating"].dropna().str.strip().str.lower().nunique() < data.train["heating"].nunique()


def test_builders_are_seeded():
    first, again, other = (build_house_prices(np.random.default_rng(seed), "ci") for seed in (3, 3, 4))
    pd.testing.assert_frame_equal(first.train, again.train)
    assert not first.train["target"].equals(other.train["target"])


@pytest.fixture
def digits_instance(tmp_path):
    task = TASKS["digits"]
    task.prepare(0, "ci", tmp_path / "data", tmp_path / "private")
    labels = pd.read_csv(tmp_path / "private" / "labels.csv")
    return task, tmp_path, labels


def _submit(tmp_path, frame):
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.rename(columns={"target": "label"}), "must have columns ['id', 'target']"),
        (lambda f: f.iloc[:-3], "expected"),
        (lambda f: f.assign(target=np.where(np.arange(len(f)) == 0, np.nan, f["target"])), "missing (NaN)"),
        (lambda f: f.assign(id=f["id"] + 1), "lacks"),
        (lambda f: f.assign(id=np.r_[f["id"].iloc[1], f["id"].iloc[1:]]), "repeats ids"),
        (lambda f: f.assign(target=11), "unknown class labels"),
    ],
)
def test_bad_submissions_get_clear_errors(digits_instance, mutate, message):
    task, tmp_path, labels = digits_instance
    good = labels[["id", "target"]]
    grade = grade_submission(_submit(tmp_path, mutate(good.copy())), tmp_path / "private" / "labels.csv", "accuracy")
    assert not grade.valid and message in grade.error


def test_missing_submission_and_perfect_submission(digits_instance):
    task, tmp_path, labels = digits_instance
    missing = grade_submission(tmp_path / "nothing.csv", tmp_path / "private" / "labels.csv", "accuracy")
    assert not missing.valid and "no submission.csv" in missing.error
    perfect = grade_submission(_submit(tmp_path, labels[["id", "target"]]), tmp_path / "private" / "labels.csv", "accuracy")
    assert perfect.valid and perfect.public == 1.0 and perfect.private == 1.0
    assert task.medal(perfect.public) == "gold"


def test_public_and_private_splits_partition_the_test_set(digits_instance):
    _, tmp_path, labels = digits_instance
    test_ids = pd.read_csv(tmp_path / "data" / "test.csv")["id"]
    assert set(labels["id"]) == set(test_ids)
    assert abs((labels["split"] == "public").mean() - 0.5) < 0.01


@pytest.mark.slow
@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_starter_matches_its_recorded_baseline_and_reference_is_better(task_id):
    task = TASKS[task_id]
    starter = mean_score(task, None, None, seed=0)
    reference = mean_score(task, task.folder / "reference", None, seed=0)
    spread = abs(task.spec.reference - task.spec.baseline)
    assert abs(starter - task.spec.baseline) < 0.5 * spread, "starter drifted from the calibrated baseline"
    assert task.loss(reference) < 0.5 < task.loss(starter)
