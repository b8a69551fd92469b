"""PettingZoo's conversions and wrappers on the factory, built with the default kwargs."""
from __future__ import annotations

import json

import pytest
from pettingzoo.utils.conversions import aec_to_parallel_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from rsigym.envs import factory
from tests.ecosystem.conftest import SMALL as ENV_SMALL

SMALL = {**ENV_SMALL, "suite": "toy"}  # the factory's default suite is the benchmark's; wine is a toy task


# A scaled SVC beats the starter's unscaled k-NN on wine: the first step earns a reward.
SCALED_SVC = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}


def actions_of(step: int) -> dict[str, str]:
    """One op per role: the harness keeper adds a note, the ML engineer edits the wine model."""
    note = {"op": "write", "path": "harness/memory.md", "content": f"# notes\nstep {step}\n"}
    config = {**SCALED_SVC, "params": {"C": 10 * (step + 1)}}
    model = {"op": "write", "path": "tasks/wine/config.json", "content": json.dumps(config)}
    return {"harness_keeper": json.dumps(note), "mle_engineer": json.dumps(model)}


def play_parallel(env, seed: int) -> tuple[list[dict], list[dict]]:
    """Rewards and infos of every parallel step of one episode."""
    env.reset(seed=seed)
    rewards, infos, step = [], [], 0
    while env.agents:
        _, reward, _, _, info = env.step({agent: actions_of(step)[agent] for agent in env.agents})
        rewards.append(reward)
        infos.append(info)
        step += 1
    return rewards, infos


def test_aec_form_with_order_enforcing_plays_an_episode():
    env = factory.env(**SMALL)  # parallel_to_aec of the factory, already order-enforcing
    assert isinstance(env, OrderEnforcingWrapper)
    try:
        with pytest.raises(AttributeError, match="before reset"):
            env.agent_selection  # noqa: B018  (the wrapper refuses to read state before reset)
        env.reset(seed=0)
        turns, returns, step = 0, dict.fromkeys(env.possible_agents, 0.0), 0
        for agent in env.agent_iter():
            _, reward, terminated, truncated, info = env.last()
            returns[agent] += reward
            assert "episode" not in info
            env.step(None if terminated or truncated else actions_of(step // 2)[agent])
            turns += 1
            step += 1
    finally:
        env.close()
    assert set(returns) == {"harness_keeper", "mle_engineer"}
    assert turns == 2 * 2 + 2  # two cycles of the two roles, then each role's final (done) turn


def test_round_trip_through_aec_matches_the_parallel_env():
    direct = factory.parallel_env(**SMALL)
    converted = aec_to_parallel_wrapper(factory.env(**SMALL))  # the real conversion, not the short cut
    try:
        rewards, infos = play_parallel(direct, seed=3)
        converted_rewards, converted_infos = play_parallel(converted, seed=3)
    finally:
        direct.close()
        converted.close()
    assert len(rewards) == SMALL["iterations"]
    assert rewards[0]["mle_engineer"] > 0  # a real improvement went through both forms
    assert converted_rewards == rewards
    # default infos hold nothing that differs between two envs (paths, timings, counters)
    assert converted_infos == infos
