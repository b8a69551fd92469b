"""Red team, round 2: attacks played against the main that closed issue 14's eight.

Each test plays one attack through the public API (``gym.make`` with default arguments on a
small task subset, or the factory) and checks that it gains nothing. Where the attack still
works and the fix is a design change, the test is ``xfail(strict=True)``: it fails the day the
attack stops working, so the list and the code cannot drift apart.
"""
from __future__ import annotations

import io

import pandas as pd
import pytest

# A solution that submits the predictions the policy wrote next to it: no model at all.
REPLAY_SOLUTION = """\
import os
import shutil

shutil.copy("preds.csv", os.path.join(os.environ["RSI_OUTPUT_DIR"], "submission.csv"))
"""


def _submit_predictions(env, task_id: str, predictions: pd.DataFrame):
    """One step that makes ``task_id``'s solution submit exactly ``predictions``."""
    return env.step([
        {"op": "write", "path": f"tasks/{task_id}/solution.py", "content": REPLAY_SOLUTION},
        {"op": "write", "path": f"tasks/{task_id}/preds.csv", "content": predictions.to_csv(index=False)},
    ])


# -- the validity of a grade must not tell which test rows are private ---------------------------
def test_the_validity_of_a_grade_does_not_reveal_the_private_split(make_env):
    """Two predictions of 1e154 overflow the squared error sum only together. Judged per split,
    the grade was invalid exactly when both rows were in the same split: one evaluation, one
    bit of the secret split (8 of 8 pairs told apart on diabetes, seed 5)."""
    env = make_env(tasks=["diabetes"])
    env.reset(seed=5)
    run_dir = env.unwrapped.run_dir
    ids = pd.read_csv(run_dir / "data/diabetes/test.csv")["id"].tolist()
    split = pd.read_csv(run_dir / "private/diabetes/labels.csv").set_index("id")["split"]  # to pick the pairs only
    anchor = ids[0]
    same = next(i for i in ids[1:] if split[i] == split[anchor])
    other = next(i for i in ids[1:] if split[i] != split[anchor])

    validity = {}
    for label, partner in (("same split", same), ("different splits", other)):
        predictions = pd.DataFrame({"id": ids, "target": 150.0})
        predictions.loc[predictions["id"].isin([anchor, partner]), "target"] = 1.0e154
        _, _, _, _, info = _submit_predictions(env, "diabetes", predictions)
        validity[label] = info["valid"]["diabetes"]
    assert validity["same split"] == validity["different splits"], validity  # old code: False vs True
    assert validity["same split"] is False  # absurd predictions stay invalid


# -- step() must not raise in the factory either ------------------------------------------------
def test_the_factory_contains_a_deeply_nested_python_action(tmp_path):
    """Actions may be Python lists and dicts. An op name nested 5000 lists deep made the error
    message's ``repr`` raise RecursionError; the single-agent env caught it at its boundary, the
    factory's step() raised."""
    from rsigym.envs import factory

    nested: list = []
    for _ in range(5000):
        nested = [nested]
    deep_key: tuple = ()
    for _ in range(5000):
        deep_key = (deep_key,)
    env = factory.parallel_env(tasks=["wine"], iterations=3, run_dir=tmp_path / "factory")
    try:
        env.reset(seed=0)
        role = env.agents[0]
        for action in ({"op": nested}, {"op": "write", "path": "notes.md", "content": "x", deep_key: 1}):
            observations, rewards, _, _, infos = env.step({role: action})  # old code: RecursionError
            assert rewards[role] == 0.0
            errors = [entry["error"] for entry in infos[role]["ops"] if not entry["ok"]]
            assert errors and ("unknown op" in errors[0] or "has no field" in errors[0]), errors
    finally:
        env.close()
