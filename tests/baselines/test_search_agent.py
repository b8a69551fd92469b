"""The search baseline: a per-task hill-climber that keeps each task's best config."""
import json

from rsigym.agents import AGENTS, make_agent
from rsigym.baselines.search import search_space


def test_search_agent_climbs_and_never_keeps_a_worse_config(make_env):
    assert "search" in AGENTS
    env = make_env(tasks=["wine", "breast-cancer"], iterations=4)
    agent = make_agent("search", env, seed=3)
    obs, info = env.reset(seed=0)
    agent.reset(obs, info)
    start = dict(info["losses"])
    done = False
    while not done:
        action = agent.act(obs, info)
        for op in action:
            assert op["op"] == "write"
            json.loads(op["content"])
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        for task_id, best in agent.best_loss.items():
            assert best <= start[task_id] + 1e-9  # the best is only ever replaced by a lower loss
    assert sum(agent.best_loss.values()) < sum(start.values())


def test_search_space_falls_back_to_the_menu_of_edits(make_env):
    env = make_env(tasks=["wine"], iterations=1)
    wine = env.unwrapped.tasks[0]
    assert search_space(wine) == [[dict(edit.set)] for edit in wine.spec.edits]
