"""The agent protocol used by the CLI and the leaderboard, the registry of built-in agents, and
loading a user's own agent from ``module:Class`` (or ``module:function``)."""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Protocol

import gymnasium as gym

AGENTS: dict[str, str] = {
    "greedy": "rsigym.baselines.greedy:GreedyAgent",
    "llm": "rsigym.baselines.llm_agent:LLMAgent",
    "random": "rsigym.baselines.random_agent:RandomAgent",
    "search": "rsigym.baselines.search:SearchAgent",
}


class Agent(Protocol):
    """Plays an episode: ``reset`` once after ``env.reset``, then ``act`` every step."""

    name: str

    def reset(self, obs: dict, info: dict) -> None: ...

    def act(self, obs: dict, info: dict) -> Any: ...


AgentFactory = Callable[..., Agent]


class AgentLoadError(ValueError):
    """An agent name that is neither a built-in nor an importable ``module:attribute``."""


def load_agent_factory(name: str) -> AgentFactory:
    """The class (or function) that builds agent ``name``: a built-in name or ``module:attribute``.

    It is called as ``factory(env, seed=seed)`` and must return an object with ``reset(obs, info)``
    and ``act(obs, info)``. Importing it first lets a caller report a bad name before building an env.
    """
    if ":" not in name:
        if name not in AGENTS:
            close = difflib.get_close_matches(name, AGENTS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise AgentLoadError(f"unknown agent {name!r}; agents: {sorted(AGENTS)} or module:Class.{hint}")
        name = AGENTS[name]
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise AgentLoadError(f"agent {name!r}: expected module:Class or module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise AgentLoadError(f"agent {name!r}: cannot import module {module_name!r} ({err})") from err
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise AgentLoadError(f"agent {name!r}: module {module_name!r} has no attribute {attribute!r}")
    if not callable(factory):
        raise AgentLoadError(f"agent {name!r}: {attribute!r} is not a class or function")
    return factory


def make_agent(name: str, env: gym.Env, seed: int = 0) -> Agent:
    """Build agent ``name`` (a built-in or ``module:attribute``) for ``env``."""
    agent = load_agent_factory(name)(env, seed=seed)
    missing = [method for method in ("reset", "act") if not callable(getattr(agent, method, None))]
    if missing:
        raise AgentLoadError(f"agent {name!r} built a {type(agent).__name__} without "
                             + " and ".join(f"{method}(obs, info)" for method in missing))
    return agent


def run_episode(env: gym.Env, agent: Agent, seed: int) -> dict:
    """Play one episode of ``agent`` from ``env.reset(seed=seed)`` to its end; the last ``info``."""
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        done = terminated or truncated
    return info
