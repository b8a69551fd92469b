"""Faults inside a step that no policy can cause today, injected to check the step's one error
boundary: an op handler or the iteration's commit raising. The step returns, the error is in
the observation and its traceback in the log record, and rewards stay exact."""
from __future__ import annotations

import json
import math

from rsigym import operations
from tests.conftest import STRONG_DIGITS, write_config


def _last_record(env) -> dict:
    return json.loads(env.unwrapped.log.path.read_text().splitlines()[-1])


def test_an_op_that_raises_keeps_the_earlier_evaluation_and_its_reward(make_env, monkeypatch):
    env = make_env(iterations=5)
    _, info = env.reset(seed=0)
    start = info["loss"]

    def broken_read(ops, op, call):
        raise KeyError("injected fault")

    monkeypatch.setitem(operations._HANDLERS, "read", broken_read)
    obs, reward, _, _, info = env.step([write_config("digits", STRONG_DIGITS), {"op": "evaluate"},
                                        {"op": "read", "path": "harness/memory.md"},
                                        {"op": "write", "path": "harness/after.md", "content": "still applied"}])
    assert [entry["ok"] for entry in info["ops"]] == [True, True, False, True]
    assert "KeyError" in info["ops"][2]["error"] and "ERROR" in obs["text"]
    assert math.isclose(reward, start - info["loss"], abs_tol=1e-12) and reward > 0.2
    record = _last_record(env)
    assert record["reward"] == reward and record["exceptions"][0]["op"] == "read"
    assert "broken_read" in record["exceptions"][0]["traceback"]
    assert (env.unwrapped.workspace_dir / "harness/after.md").is_file()


def test_a_commit_that_fails_spends_no_iteration_and_pays_no_reward(make_env, monkeypatch):
    env = make_env(iterations=5)
    _, info = env.reset(seed=0)
    start = info["loss"]
    workspace = env.unwrapped.workspace
    commit = workspace.commit

    def failing_commit(message):
        raise RuntimeError("git commit failed: injected fault")

    monkeypatch.setattr(workspace, "commit", failing_commit)
    obs, reward, _, _, info = env.step(write_config("digits", STRONG_DIGITS))
    assert reward == 0.0 and info["iteration"] == 0 and info["loss"] == start and not info["evaluated"]
    assert "RuntimeError" in obs["text"] and _last_record(env)["exceptions"]
    monkeypatch.setattr(workspace, "commit", commit)
    _, reward, _, _, info = env.step({"op": "evaluate"})  # the edit is still there: evaluated now
    assert info["iteration"] == 1 and math.isclose(reward, start - info["loss"], abs_tol=1e-12) and reward > 0.2
    assert _last_record(env)["exceptions"] == []
