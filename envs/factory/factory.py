"""``FactoryEnv``: the AI factory as a PettingZoo ``ParallelEnv`` built on one :class:`~rsigym.env.RSIEnv`.

The single-agent env (the *core*) keeps the workspace, the tasks, the evaluator, the budgets,
the git history and the run log; each parallel step applies the roles' ops to the core's
workspace in role order (through :meth:`rsigym.env.RSIEnv.apply_op`, with the role's
:class:`~rsigym.envs.factory.roles.RoleGuard` as its write guard) and then steps the core once
with an ``evaluate`` op, so the loop, its budgets and its log format stay the core's. The
factory uses the core's public hooks only: the write guard, and the record hook
(:meth:`rsigym.env.RSIEnv.set_record_hook`) that adds the per-role fields to each record. See the
package docstring for the rules.
"""
from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from rsigym.actions import parse_action
from rsigym.env import RSIEnv
from rsigym.envs.factory.roles import ROLES, SHARED_FOLDERS, Region, Role, RoleGuard, build_regions, find_conflicts
from rsigym.loss import suite_loss
from rsigym.render import Header, OpResult, render

ENV_ID = "RSI-Factory-v0"  # the env_id of the factory's run-log records
DEFAULT_TEAM_WEIGHT = 0.5  # λ: weight of the suite-loss decrease in every role's reward

# One op and the workspace paths it wrote (empty unless it succeeded and edited something).
Applied = tuple[OpResult, list[str]]


@dataclass
class _StepInProgress:
    """What the record hook needs of the parallel step the core is logging; it fills in the rewards."""

    applied: Mapping[str, list[Applied]]
    acting: list[str]
    previous: dict[str, float] | None  # the losses before the step; None for the reset record
    conflicts: list[dict]
    reset_fields: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, tuple[float, float]] = field(default_factory=dict)  # role: (own, team)
    rewards: dict[str, float] = field(default_factory=dict)


# Core keyword arguments the factory sets itself: each parallel step ends with one evaluation,
# so there is at most one iteration per step and the episode has `iterations` steps.
FIXED_CORE_KWARGS = ("auto_evaluate", "max_steps")


class FactoryEnv(ParallelEnv):
    """Roles improve one shared agent system; one shared evaluation per step (see the package docstring)."""

    metadata = {"name": "rsi_factory_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        team_weight: float = DEFAULT_TEAM_WEIGHT,
        roles: Sequence[Role] = ROLES,
        shared: Sequence[str] = SHARED_FOLDERS,
        render_mode: str | None = None,
        agent: str = "factory",
        **core_kwargs: Any,
    ):
        """``team_weight``, ``roles``, ``shared``: see the package docstring; ``render_mode``:
        ``"ansi"`` or None; every other keyword argument goes to the core :class:`RSIEnv` as is
        (``agent`` defaults to ``"factory"``), except :data:`FIXED_CORE_KWARGS`."""
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'ansi' or None")
        fixed = sorted(set(core_kwargs) & set(FIXED_CORE_KWARGS))
        if fixed:
            raise TypeError(f"the factory sets {fixed} itself: one shared evaluation ends every parallel step")
        iterations = core_kwargs.get("iterations", _CORE_PARAMETERS["iterations"].default)
        self.core = RSIEnv(agent=agent, auto_evaluate=False, max_steps=iterations, **core_kwargs)
        self.log = self.core.log
        self.core.set_record_hook(self._record_fields)
        self._step: _StepInProgress | None = None
        self.team_weight = float(team_weight)
        self.render_mode = render_mode
        self.regions: dict[str, Region] = build_regions(self.core.tasks, roles, shared)
        self.guards = {name: RoleGuard(region, self.regions) for name, region in self.regions.items()}
        self.possible_agents = list(self.regions)
        self.agents: list[str] = []
        # Per-role copies, so that seeding one role's space leaves the others alone.
        self.observation_spaces = {name: copy.deepcopy(self.core.observation_space) for name in self.possible_agents}
        self.action_spaces = {name: copy.deepcopy(self.core.action_space) for name in self.possible_agents}
        self.roles_table = {
            name: {"tasks": list(r.tasks), "region": list(r.writable), "scored_on": list(r.scored_on)}
            for name, r in self.regions.items()
        }
        self._weights = {task.id: task.spec.weight for task in self.core.tasks}
        self._team_text = ""

    # -- PettingZoo API ----------------------------------------------------------------------
    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    @property
    def run_dir(self) -> Path:
        return self.core.run_dir

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options``: ``files`` {path: content} seeds the fresh workspace."""
        options = options or {}
        if options.get("resume"):
            raise ValueError("the factory cannot resume a run; call reset() without resume")
        files = {"files": options["files"]} if "files" in options else None
        self.agents = list(self.possible_agents)
        self.submitted: set[str] = set()
        self.team_return = 0.0
        self._step = _StepInProgress({}, [], None, [], {"roles": self.roles_table, "team_weight": self.team_weight})
        core_obs, core_info = self.core.reset(seed=seed, options=files)
        nothing: dict[str, list[Applied]] = {name: [] for name in self.agents}
        self._team_text = self._render_team(None, nothing, []) if self.render_mode == "ansi" else ""
        observations = {name: self._observation(name, core_obs, None, [], []) for name in self.agents}
        infos = {name: self._info(name, core_info, [], [], (0.0, 0.0)) for name in self.agents}
        return observations, infos

    def step(self, actions: Mapping[str, Any]):
        """Apply every live role's action in role order, evaluate once, and reward each role."""
        if self.core.workspace is None:
            raise ResetNeeded("call reset() before step()")
        if not self.agents:
            return {}, {}, {}, {}, {}  # the episode is over; PettingZoo loops stop on empty agents
        acting = list(self.agents)
        previous = dict(self.core.result.losses)
        applied: dict[str, list[Applied]] = {}
        for name in acting:
            applied[name], submitted = self._act(name, actions.get(name))
            if submitted:
                self.submitted.add(name)
        conflicts = find_conflicts({name: [p for _, paths in done for p in paths] for name, done in applied.items()})
        everyone_done = all(name in self.submitted for name in acting)
        core_ops = [{"op": "evaluate"}] + ([{"op": "submit"}] if everyone_done else [])
        self._step = _StepInProgress(applied, acting, previous, conflicts)
        # the record hook computes the rewards from the record's losses, after any final re-grade
        core_obs, _, _, truncated_all, core_info = self.core.step(core_ops)
        parts, rewards = self._step.parts, self._step.rewards
        terminations = {name: name in self.submitted for name in acting}
        truncations = {name: bool(truncated_all) and not terminations[name] for name in acting}
        self.agents = [name for name in acting if not (terminations[name] or truncations[name])]
        if self.render_mode == "ansi":
            self._team_text = self._render_team(previous, applied, conflicts)
        observations = {name: self._observation(name, core_obs, previous, applied[name], conflicts) for name in acting}
        infos = {name: self._info(name, core_info, applied[name], conflicts, parts[name]) for name in acting}
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        return self._team_text if self.render_mode == "ansi" else None

    def close(self) -> None:
        self.core.close()

    # -- acting ------------------------------------------------------------------------------
    def _act(self, name: str, action: Any) -> tuple[list[Applied], bool]:
        """Carry out one role's ops; refused ones are reported, never raised. Returns (ops, submitted).

        Workspace ops go to the core's ops service with the role's write guard; ``evaluate`` and
        ``submit`` mean what they mean for a team (one shared evaluation per step; a role's
        submit ends its part)."""
        if action is None:  # a role may sit a step out
            return [], False
        parsed = parse_action(action)
        done: list[Applied] = []
        submitted = False
        for op in parsed.ops:
            if op.name == "submit":
                submitted = True
                note = f"{name} is done; the episode ends when every role has submitted"
                done.append((OpResult("submit", None, None, True, output=note), []))
                break
            if op.name == "evaluate":
                note = "every step ends with one shared evaluation"
                done.append((OpResult("evaluate", None, None, True, output=note), []))
                continue
            outcome = self.core.apply_op(op, write_guard=self.guards[name])
            done.append((outcome.result, list(outcome.wrote)))
        if parsed.error:
            done.append((OpResult("invalid", None, None, False, parsed.error), []))
        return done, submitted

    # -- rewards, observations, infos, log ---------------------------------------------------
    def _own_loss(self, name: str, losses: Mapping[str, float]) -> float:
        """The role's loss: weighted mean of the losses of the tasks it is scored on (0 for none)."""
        return suite_loss({task: losses[task] for task in self.regions[name].scored_on}, self._weights)

    def _notes(self, name: str, conflicts: list[dict]) -> list[str]:
        region = self.regions[name]
        own = self._own_loss(name, self.core.result.losses)
        notes = [(
            f"**Role: {name}.** You may write {region.describe()}; you may read the whole workspace. "
            f"Your loss: {own:.4f} on {', '.join(region.scored_on) or 'no task'}; your reward is its decrease "
            f"plus {self.team_weight:g} x the suite loss decrease."
        )]
        notes += [_conflict_line(c) for c in conflicts if name in c["agents"]]
        notes += [
            f"note ({task_id}): {result.grade.details['note']}"
            for task_id, result in self.core.result.results.items()
            if result.grade.details and result.grade.details.get("note")
        ]
        if self.core.done:
            notes.append("**Episode over.**")
        return notes

    def _header(self, who: str) -> Header:
        core = self.core
        return Header(who, core.step_count, core.iteration, core.iterations, core.compute_used, core.compute_seconds)

    def _observation(self, name: str, core_obs: dict, previous: dict | None, applied: list[Applied],
                     conflicts: list[dict]) -> dict:
        text = render(self._header(f"{ENV_ID} / {name}"), self.core.tasks, self.core.result, previous,
                      [result for result, _ in applied], self.core.workspace.memory_head(),
                      self._notes(name, conflicts), self.core.max_text_chars,
                      files=self.core.workspace.files() if previous is None else None)  # the brief at reset
        return {
            "text": text,
            "losses": core_obs["losses"].copy(),
            "loss": np.array([self._own_loss(name, self.core.result.losses)], dtype=np.float32),
            "budget": core_obs["budget"].copy(),
        }

    def _render_team(self, previous: dict | None, applied: Mapping[str, list[Applied]], conflicts: list[dict]) -> str:
        ops = [result._replace(op=f"{name}: {result.op}") for name, done in applied.items() for result, _ in done]
        notes = [_conflict_line(c) for c in conflicts]
        return render(self._header(ENV_ID), self.core.tasks, self.core.result, previous, ops,
                      self.core.workspace.memory_head(), notes, self.core.max_text_chars)

    def _info(self, name: str, core_info: dict, applied: list[Applied], conflicts: list[dict],
              parts: tuple[float, float]) -> dict:
        info = copy.deepcopy(core_info)
        for key in ("ops", "kinds", "run_dir", "log_path"):
            info.pop(key, None)
        if self.core.info_stats:  # paths differ between otherwise identical runs, like timings
            info.update(run_dir=str(self.core.run_dir), log_path=str(self.log.path))
        ops = [result for result, _ in applied]
        info.update(
            role=name,
            roles=copy.deepcopy(self.roles_table),
            loss=self._own_loss(name, info["losses"]),
            suite_loss=core_info["loss"],
            ops=[result.log_entry() for result in ops],
            kinds=sorted({result.kind for result in ops if result.kind and result.ok}),
            conflicts=[c for c in copy.deepcopy(conflicts) if name in c["agents"]],
            reward_parts={"own": parts[0], "team": parts[1]},
            team_return=self.team_return,
            submitted=name in self.submitted,
        )
        return info

    def _record_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The core's record hook: the ops tagged with their role, and the per-role figures. The
        rewards are computed here, from the record's losses (after any final re-grade)."""
        step, losses = self._step, record["losses"]
        if step.previous is None:  # the reset record
            step.parts = {name: (0.0, 0.0) for name in self.possible_agents}
        else:
            step.parts = {
                name: (self._own_loss(name, step.previous) - self._own_loss(name, losses), self.team_weight * record["reward"])
                for name in step.acting
            }
        step.rewards = {name: float(own + team) for name, (own, team) in step.parts.items()}
        self.team_return += sum(step.rewards.values())
        return step.reset_fields | {
            "env_id": ENV_ID,
            "ops": [
                {**result.log_entry(), "agent": name, "wrote": paths}
                for name, done in step.applied.items() for result, paths in done
            ],
            "agent_rewards": dict(step.rewards),
            "team_reward": float(sum(step.rewards.values())),
            "team_return": self.team_return,
            "role_losses": {name: self._own_loss(name, losses) for name in self.possible_agents},
            "conflicts": step.conflicts,
            "submitted": sorted(self.submitted, key=self.possible_agents.index),
        }


_CORE_PARAMETERS = inspect.signature(RSIEnv.__init__).parameters


def _factory_signature() -> inspect.Signature:
    """FactoryEnv's own keyword arguments, then the core's it passes through (so that
    ``inspect.signature(FactoryEnv)`` lists every argument it accepts, and cannot drift)."""
    own = [p for name, p in inspect.signature(FactoryEnv.__init__).parameters.items() if name not in ("self", "core_kwargs")]
    taken = {p.name for p in own} | set(FIXED_CORE_KWARGS) | {"self"}
    passed = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in _CORE_PARAMETERS.items() if name not in taken]
    return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + passed)


FactoryEnv.__signature__ = _factory_signature()


def _conflict_line(conflict: dict) -> str:
    agents = conflict["agents"]
    return (f"conflict: {conflict['path']} was written by {', '.join(agents)} in the same step; "
            f"applied in that order, so {agents[-1]}'s edit came last")


def parallel_env(**kwargs: Any) -> FactoryEnv:
    """The factory as a PettingZoo ``ParallelEnv`` (keyword arguments: see :class:`FactoryEnv`)."""
    return FactoryEnv(**kwargs)


def env(**kwargs: Any) -> AECEnv:
    """The factory in PettingZoo's AEC form: :func:`parallel_env` through ``parallel_to_aec``."""
    return parallel_to_aec(parallel_env(**kwargs))
