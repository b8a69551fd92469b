"""The scripted baselines: greedy keeps improvements and reverts regressions; random is seeded."""
import json

from rsigym.agents import make_agent


def play(env, agent, seed=0):
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    trace, done = [(None, info)], False
    while not done:
        action = agent.act(obs, info)
        obs, _, terminated, truncated, info = env.step(action)
        trace.append((action, info))
        done = terminated or truncated
    return trace


def test_greedy_reverts_every_regression_and_ends_no_worse_than_it_started(make_env):
    env = make_env(tasks=["wine"], iterations=6)
    trace = play(env, make_agent("greedy", env))
    best = trace[0][1]["loss"]
    for index in range(1, len(trace)):
        action, info = trace[index]
        tried_an_edit = action[-1]["op"] == "write"
        if tried_an_edit and info["loss"] >= best - 1e-6 and index + 1 < len(trace):
            assert trace[index + 1][0][0]["op"] == "revert"  # back to the best iteration first
        best = min(best, info["loss"])
    assert best < trace[0][1]["loss"]


def test_random_agent_is_reproducible_and_only_writes_named_edits(make_env):
    actions = []
    for run in range(2):
        env = make_env(tasks=["wine"], iterations=3)
        actions.append([action for action, _ in play(env, make_agent("random", env, seed=5))[1:]])
    assert actions[0] == actions[1]
    wine = env.unwrapped.tasks[0]
    for action in actions[0]:
        assert action["op"] == "write" and action["path"] == "tasks/wine/config.json"
        config = json.loads(action["content"])
        assert any(all(config.get(k) == v for k, v in edit.set.items()) for edit in wine.spec.edits)
