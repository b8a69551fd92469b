"""The agent protocol used by the CLI and the leaderboard, and the registry of built-in agents."""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Protocol

import gymnasium as gym

AGENTS: dict[str, str] = {
    "greedy": "rsigym.baselines.greedy:GreedyAgent",
    "llm": "rsigym.baselines.llm_agent:LLMAgent",
    "random": "rsigym.baselines.random_agent:RandomAgent",
}


class Agent(Protocol):
    """Plays an episode: ``reset`` once after ``env.reset``, then ``act`` every step."""

    name: str

    def reset(self, obs: dict, info: dict) -> None: ...

    def act(self, obs: dict, info: dict) -> Any: ...


def make_agent(name: str, env: gym.Env, seed: int = 0) -> Agent:
    """Build a registered agent for ``env``."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, AGENTS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown agent {name!r}; agents: {sorted(AGENTS)}.{hint}")
    module_name, class_name = AGENTS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)(env, seed=seed)


def run_episode(env: gym.Env, agent: Agent, seed: int) -> dict:
    """Play one episode of ``agent`` from ``env.reset(seed=seed)`` to its end; the last ``info``."""
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        done = terminated or truncated
    return info
