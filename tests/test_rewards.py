"""Reward = exact loss change, in every way the env is run: over an episode the rewards sum to
L0 - L_final (the starter's public loss minus the final one, after the end-of-episode exact
re-grade), with grades from the cache, across a resume, in the factory and in vector envs.

Each episode hides a read from the access-time tracking (tests/redteam/test_redteam_reward_integrity.py),
so the final re-grade changes the loss and its change must be paid in the last reward; each
test checks that the stale grade was served (``FOOLED``), so that it cannot pass vacuously."""
from __future__ import annotations

import json
import math
import uuid

import gymnasium as gym
import pytest

from rsigym.env import load_run
from tests.redteam.test_redteam_reward_integrity import GOOD_WINE, hidden_read_episode, logged_rewards
from tests.conftest import write_config

EXACT = 1e-12
FOOLED = 1.0  # wine's loss while its stale good grade is served (broken, it scores 2)


def test_rewards_sum_to_the_loss_change_with_grades_from_the_cache(make_env):
    """Two episodes on one seed: the second is served from the grade cache throughout."""
    env = make_env(iterations=10)
    nonce = uuid.uuid4().hex
    for episode in range(2):
        _, info = env.reset(seed=0)
        start, total = info["loss"], 0.0
        for step, action in enumerate(hidden_read_episode(nonce)):
            _, reward, terminated, _, info = env.step(action)
            total += reward
            if step == 1 and episode == 0:
                assert info["losses"]["wine"] < FOOLED, info["errors"]
        assert terminated and math.isclose(total, start - info["loss"], abs_tol=EXACT)
        assert math.isclose(*logged_rewards(env), abs_tol=EXACT)
        if episode == 1:
            assert all(env.unwrapped.stats()["cached"].values())


def test_rewards_sum_to_the_loss_change_across_a_resume(make_env, tmp_path):
    env = make_env(iterations=10, run_dir=tmp_path / "run")
    _, info = env.reset(seed=0)
    start = info["loss"]
    first, second, submit = hidden_read_episode(uuid.uuid4().hex)
    env.step(first)
    assert env.step(second)[-1]["losses"]["wine"] < FOOLED
    env.close()
    resumed, _, _ = load_run(tmp_path / "run")
    try:
        _, _, terminated, _, info = resumed.step(submit)
        assert terminated and info["losses"]["wine"] == 2.0
        logged, gain = logged_rewards(resumed)
        assert math.isclose(logged, gain, abs_tol=EXACT) and math.isclose(gain, start - info["loss"], abs_tol=EXACT)
    finally:
        resumed.close()


def test_rewards_sum_to_the_loss_change_in_the_factory(tmp_path):
    from rsigym.envs import factory

    env = factory.parallel_env(suite="toy", tasks=["wine"], iterations=10, run_dir=tmp_path / "factory")
    try:
        _, infos = env.reset(seed=0)
        start = {name: (info["suite_loss"], info["loss"]) for name, info in infos.items()}
        totals = dict.fromkeys(env.agents, 0.0)
        first, second, _ = hidden_read_episode(uuid.uuid4().hex)
        for action in (first, second):
            _, rewards, *_, infos = env.step({"mle_engineer": action})
            for name, reward in rewards.items():
                totals[name] += reward
        assert infos["mle_engineer"]["losses"]["wine"] < FOOLED
        _, rewards, terminations, _, infos = env.step({name: {"op": "submit"} for name in env.agents})
        assert all(terminations.values())
        for name, info in infos.items():
            totals[name] += rewards[name]
            suite_gain, own_gain = start[name][0] - info["suite_loss"], start[name][1] - info["loss"]
            assert math.isclose(totals[name], own_gain + env.team_weight * suite_gain, abs_tol=EXACT), name
        assert infos["mle_engineer"]["losses"]["wine"] == 2.0
        records = [json.loads(line) for line in (env.run_dir / "log.jsonl").read_text().splitlines()]
        assert math.isclose(sum(r["reward"] for r in records), records[0]["loss"] - records[-1]["loss"], abs_tol=EXACT)
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_rewards_sum_to_the_loss_change_in_vector_envs(mode):
    envs = gym.make_vec("RSI-MLE-v0", suite="toy", num_envs=2, vectorization_mode=mode, tasks=["digits", "wine"], iterations=10,
                        vector_kwargs={"shared_memory": False} if mode == "async" else {})
    try:
        _, infos = envs.reset(seed=0)
        start, totals = infos["loss"].copy(), [0.0, 0.0]
        for step, action in enumerate(hidden_read_episode(uuid.uuid4().hex)):
            _, rewards, terminated, _, infos = envs.step((json.dumps(action),) * 2)
            totals = [total + float(reward) for total, reward in zip(totals, rewards)]
            if step == 1:
                assert (infos["losses"]["wine"] < FOOLED).all()
        assert terminated.all() and (infos["losses"]["wine"] == 2.0).all()
        for index in range(2):
            assert math.isclose(totals[index], start[index] - infos["loss"][index], abs_tol=EXACT)
    finally:
        envs.close()


def test_rewards_pay_an_evaluation_that_came_before_a_refused_op(make_env):
    env = make_env(iterations=5)
    _, info = env.reset(seed=0)
    start = info["loss"]
    _, reward, *_, info = env.step([write_config("wine", GOOD_WINE), {"op": "evaluate"},
                                    {"op": "merge", "inputs": ["weights/.keep"], "out": "tasks"}])
    assert not info["ops"][2]["ok"] and math.isclose(reward, start - info["loss"], abs_tol=EXACT) and reward > 0.2
