"""Attacks on the reward itself, played through the public API only (issue 14, attacks 3, 4, 7
and 8): a stale grade paid as reward, steps that raise and lose a negative reward, the private
split's loss fed back in the observation, and public evaluations beyond the budget."""
from __future__ import annotations

import json
import math
import uuid

import pytest

from tests.conftest import HIDDEN_READ, STRONG_DIGITS, write_config
from tests.redteam.arena import Arena

GOOD_WINE = {"kind": "classification", "model": "knn", "scale": True, "params": {"n_neighbors": 5}}
# A safetensors file made inside the sandbox, for merges.
MAKE_CHECKPOINT = ("import numpy as np; from safetensors.numpy import save_file; "
                   "save_file({'w': np.ones(3, dtype=np.float32)}, 'weights/a.safetensors')")
# A run that leaves a file whose name is not UTF-8 (bytes 0xff 0xfe) in a folder it keeps.
NON_UTF8_NAME = "open(b'weights/\\xff\\xfe.bin', 'wb').write(b'x')"


def _write(path: str, content: str) -> dict:
    return {"op": "write", "path": path, "content": content}


def hidden_read_episode(nonce: str = "") -> list:
    """Actions that earn a good wine grade, then break wine where the read-tracking cannot see
    it (the stale good grade is served), then submit (the exact re-grade finds wine broken).
    A fresh ``nonce`` keeps grades cached by earlier episodes of this process out of play."""
    solution = HIDDEN_READ + f"# {nonce}\n"
    return [
        [_write("weights/flag", "ok"), write_config("wine", GOOD_WINE), _write("tasks/wine/solution.py", solution)],
        _write("weights/flag", "fail"),
        {"op": "submit"},
    ]


def logged_rewards(env) -> tuple[float, float]:
    """(sum of the logged rewards of the last episode, L0 - L_final from its records)."""
    records = [json.loads(line) for line in env.unwrapped.log.path.read_text().splitlines()]
    episode = [r for r in records if r["episode"] == records[-1]["episode"]]
    return sum(r["reward"] for r in episode), episode[0]["loss"] - episode[-1]["loss"]


# -- attack 3: a stale grade paid as reward ------------------------------------------------------
def test_hidden_reads_earn_no_reward_the_final_grade_takes_back(make_env):
    env = make_env(iterations=10)
    _, info = env.reset(seed=0)
    start, total = info["loss"], 0.0
    for step, action in enumerate(hidden_read_episode(uuid.uuid4().hex)):
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if step == 1:
            assert info["losses"]["wine"] < 1.0  # fooled: the stale good grade is served
    assert terminated and info["losses"]["wine"] == 2.0  # the exact re-grade ran the current flag
    assert math.isclose(total, start - info["loss"], abs_tol=1e-12)
    assert total < 0  # wine ends broken: worse than the starter, and the rewards say so
    logged, true_gain = logged_rewards(env)
    assert math.isclose(logged, true_gain, abs_tol=1e-12) and math.isclose(true_gain, start - info["loss"], abs_tol=1e-12)


# -- attack 4: steps that raise ------------------------------------------------------------------
RAISERS = {
    "merge into an existing folder": lambda: [{"op": "merge", "inputs": ["weights/a.safetensors"], "out": "tasks"}],
    "merge into the workspace's own folder": lambda: [{"op": "merge", "inputs": ["weights/a.safetensors"], "out": "weights"}],
    "keep a file whose name is not UTF-8": lambda: [{"op": "run", "cmd": ["python3", "-c", NON_UTF8_NAME], "keep": ["weights"]}],
    "write a path that is not UTF-8": lambda: [_write("weights/\udcff\udcfe.bin", "x")],
}


@pytest.mark.parametrize("attack", sorted(RAISERS))
def test_ops_that_raised_are_refused_and_the_earlier_reward_is_kept(make_env, attack):
    arena = Arena(make_env(iterations=20))
    arena.step({"op": "run", "cmd": ["python3", "-c", MAKE_CHECKPOINT], "keep": ["weights/a.safetensors"]})
    before = arena.previous_loss
    outcome = arena.step([write_config("digits", STRONG_DIGITS), {"op": "evaluate"}, *RAISERS[attack]()])
    assert outcome.info["ops"][1]["ok"] and not outcome.info["ops"][2]["ok"] and "ERROR" in outcome.obs["text"]
    assert outcome.reward == pytest.approx(before - outcome.info["loss"]) and outcome.reward > 0.2
    assert arena.assert_log_intact()[-1]["reward"] == outcome.reward
    assert not any("\udcff" in name for name in arena.unwrapped.workspace.files())
    follow_up = arena.step([_write("harness/after.md", "the next step works"), {"op": "evaluate"}])
    assert follow_up.info["ops"][1]["ok"] and follow_up.info["evaluated"]
    arena.assert_env_holds()


@pytest.mark.parametrize("action", ["[" * 100_000, "{\"op\": " * 50_000, [[[[[]]]]] * 3],
                         ids=["brackets", "objects", "nested-lists"])
def test_deeply_nested_actions_are_refused(arena, action):
    outcome = arena.step(action)
    assert [entry["ok"] for entry in outcome.info["ops"]] == [False] and outcome.reward == 0.0
    assert "ERROR" in outcome.obs["text"] and not outcome.info["evaluated"]
    arena.assert_env_holds()


def test_a_trainer_that_survives_exceptions_collects_only_the_true_gain(make_env):
    """Break a task in an action whose last op used to raise (its negative reward was lost with
    the step), then restore it in a plain step (its positive reward was paid): round after round."""
    env = make_env(iterations=20)
    _, info = env.reset(seed=0)
    start, crashes = info["loss"], 0
    _, collected, *_ = env.step({"op": "run", "cmd": ["python3", "-c", MAKE_CHECKPOINT], "keep": ["weights/a.safetensors"]})
    broken = _write("tasks/wine/solution.py", "raise SystemExit(1)\n")
    raiser = {"op": "merge", "inputs": ["weights/a.safetensors"], "out": "tasks"}
    for _ in range(3):
        for action in ([broken, {"op": "evaluate"}, raiser], {"op": "revert", "iteration": 1}):
            try:
                _, reward, terminated, truncated, info = env.step(action)
            except Exception:  # what a trainer loop does to keep going
                crashes += 1
                continue
            collected += reward
    assert crashes == 0
    assert math.isclose(collected, start - info["loss"], abs_tol=1e-12)
    logged, true_gain = logged_rewards(env)
    assert math.isclose(logged, collected, abs_tol=1e-12) and math.isclose(true_gain, collected, abs_tol=1e-12)


# -- attack 7: the private split fed back --------------------------------------------------------
def _assert_private_loss_hidden(text: str, info: dict) -> None:
    # The brief may explain that a private split exists; no private figure may be shown.
    assert "private loss" not in text.lower() and "private suite loss" not in text.lower()
    shown = {f"{value:.4f}" for value in [info["loss"], *info["losses"].values()]}
    hidden = {f"{value:.4f}" for value in [info["private_loss"], *info["private_losses"].values()]} - shown
    assert hidden and not [figure for figure in hidden if figure in text], hidden


@pytest.mark.parametrize("ending", ["submit", "budget"])
def test_the_private_loss_is_never_in_the_observation(make_env, ending):
    env = make_env(iterations=2, render_mode="ansi")
    obs, info = env.reset(seed=0)
    texts = [obs["text"]]
    done = False
    for action in (write_config("digits", STRONG_DIGITS), write_config("wine", GOOD_WINE)):
        obs, _, terminated, truncated, info = env.step(action if ending == "budget" else [action, {"op": "submit"}])
        texts.append(obs["text"])
        done = terminated or truncated
        if done:
            break
    assert done and info["private_loss"] is not None
    texts += [env.render(), env.step({"op": "evaluate"})[0]["text"]]  # and after the end
    for text in texts:
        _assert_private_loss_hidden(text, info)
    record = json.loads(env.unwrapped.log.path.read_text().splitlines()[-1])
    assert record["private_loss"] == info["private_loss"]  # where it belongs: the run log and info


def test_the_factory_never_shows_the_private_loss(tmp_path):
    from rsigym.envs import factory

    env = factory.parallel_env(suite="toy", tasks=["wine"], iterations=3, run_dir=tmp_path / "factory")
    try:
        env.reset(seed=0)
        env.step({"mle_engineer": write_config("wine", GOOD_WINE)})
        observations, _, terminations, _, infos = env.step({name: {"op": "submit"} for name in env.agents})
        assert all(terminations.values())
        for name, obs in observations.items():
            core = {**infos[name], "loss": infos[name]["suite_loss"]}
            _assert_private_loss_hidden(obs["text"], core)
    finally:
        env.close()


# -- attack 8: feedback beyond the budget ---------------------------------------------------------
def test_evaluations_beyond_the_budget_are_refused_in_one_action(make_env):
    env = make_env(iterations=2)
    env.reset(seed=0)
    configs = [STRONG_DIGITS, GOOD_WINE] + [{"kind": "classification", "model": "knn", "params": {"n_neighbors": k}}
                                           for k in (1, 3, 7, 9, 11)]
    action = []
    for index, config in enumerate(configs):
        action += [write_config("digits" if index == 0 else "wine", config), {"op": "evaluate"}]
    obs, _, terminated, truncated, info = env.step(action)
    evaluations = [entry for entry in info["ops"] if entry["op"] == "evaluate"]
    assert [entry["ok"] for entry in evaluations] == [True, True] + [False] * 5
    assert all("budget" in entry["error"] for entry in evaluations[2:]) and obs["text"].count("ERROR") >= 5
    assert info["iteration"] == 2 and len(env.unwrapped.commits) == 3 and truncated and not terminated
    # the episode's result is the last evaluated iteration, not the edits made after it
    assert f"suite loss {info['loss']:.4f} (iteration 2)" in obs["text"]
    assert json.loads(env.unwrapped.log.path.read_text().splitlines()[-1])["commit"] == env.unwrapped.commits[2]


def test_submit_after_the_budget_scores_the_last_iteration(make_env):
    env = make_env(iterations=1, auto_evaluate=False)
    env.reset(seed=0)
    action = [write_config("digits", STRONG_DIGITS), {"op": "evaluate"},
              _write("tasks/wine/solution.py", "raise SystemExit(1)\n"), {"op": "evaluate"}, {"op": "submit"}]
    _, _, terminated, _, info = env.step(action)
    assert [entry["ok"] for entry in info["ops"]] == [True, True, True, False, True]
    assert terminated and info["iteration"] == 1 and info["valid"]["wine"]  # the broken wine was never scored
