"""Driving the factory's roles with the single-agent baselines (``rsigym.agents``).

A baseline written for :class:`~rsigym.env.RSIEnv` reads ``env.unwrapped.tasks`` to know what
to edit and ``info["loss"]`` / ``info["losses"]`` to judge its edits. :class:`RoleView` gives
it the tasks whose folders its role owns, and the factory's per-role infos already carry the
role's own loss as ``loss``, so greedy, random and the other registered agents play a role
unchanged.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rsigym.agents import Agent, make_agent
from rsigym.envs.factory.factory import FactoryEnv


class RoleView:
    """What a single-agent baseline sees of the factory when it plays ``role``."""

    def __init__(self, factory: FactoryEnv, role: str):
        if role not in factory.regions:
            raise ValueError(f"unknown role {role!r}; this factory's roles: {factory.possible_agents}")
        self.role = role
        owned = set(factory.regions[role].tasks)
        self.tasks = [task for task in factory.core.tasks if task.id in owned]
        self.observation_space = factory.observation_space(role)
        self.action_space = factory.action_space(role)

    @property
    def unwrapped(self) -> RoleView:
        return self


def make_team(factory: FactoryEnv, names: Mapping[str, str], seed: int = 0) -> dict[str, Agent]:
    """Registered agents by role, e.g. ``{"mle_engineer": "greedy", "harness_keeper": "random"}``."""
    return {role: make_agent(name, RoleView(factory, role), seed=seed) for role, name in names.items()}


def play_team_episode(factory: FactoryEnv, team: Mapping[str, Agent], seed: int | None = None) -> dict[str, float]:
    """Play one factory episode with a team of agents, one per role; roles without an agent sit every step out. Returns each role's return."""
    observations, infos = factory.reset(seed=seed)
    for role, agent in team.items():
        agent.reset(observations[role], infos[role])
    returns = dict.fromkeys(factory.possible_agents, 0.0)
    while factory.agents:
        actions: dict[str, Any] = {
            role: team[role].act(observations[role], infos[role]) for role in factory.agents if role in team
        }
        observations, rewards, _, _, infos = factory.step(actions)
        for role, reward in rewards.items():
            returns[role] += reward
    return returns
