"""``FactoryEnv``: the AI factory as a PettingZoo ``ParallelEnv`` built on one :class:`~rsigym.env.RSIEnv`.

The single-agent env (the *core*) keeps the workspace, the tasks, the evaluator, the budgets,
the git history and the run log; each parallel step applies the roles' ops to the core's
workspace in role order (through :meth:`rsigym.env.RSIEnv.apply_op`, after the region check)
and then steps the core once with an ``evaluate`` op, so the loop, its budgets and its log
format stay the core's. See the package docstring for the rules.
"""
from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from rsigym import operations
from rsigym.actions import Op, parse_action
from rsigym.env import RSIEnv
from rsigym.envs.factory.roles import (
    ROLES,
    SHARED_FOLDERS,
    Region,
    Role,
    build_regions,
    find_conflicts,
    is_under,
    op_targets,
    refusal,
)
from rsigym.loss import suite_loss
from rsigym.render import Header, OpResult, render
from rsigym.runlog import RunLog
from rsigym.sandbox import Sandbox
from rsigym.workspace import PathRefused, edit_kind

ENV_ID = "RSI-Factory-v0"  # the env_id of the factory's run-log records
DEFAULT_TEAM_WEIGHT = 0.5  # λ: weight of the suite-loss decrease in every role's reward

# One op and the workspace paths it wrote (empty unless it succeeded and edited something).
Applied = tuple[OpResult, list[str]]


class PendingRecordLog(RunLog):
    """The core's run log, holding each record the core appends until the factory adds its fields.

    The core writes one record per ``reset`` and per ``step``; the factory steps the core once
    per parallel step, so the log keeps one record per parallel step, completed with the
    per-role fields and written before :meth:`FactoryEnv.step` returns.
    """

    def __init__(self, path: Path):
        super().__init__(path)
        self.pending: dict[str, Any] | None = None

    def append(self, record: dict[str, Any]) -> None:
        self.pending = record

    def commit(self, fields: Mapping[str, Any]) -> None:
        """Write the held record with ``fields`` added (they replace keys of the same name)."""
        if self.pending is None:
            raise RuntimeError("no record is waiting to be written")
        record, self.pending = {**self.pending, **fields}, None
        super().append(record)


class FactoryEnv(ParallelEnv):
    """Roles improve one shared agent system; one shared evaluation per step (see the package docstring)."""

    metadata = {"name": "rsi_factory_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        suite: str | Sequence[str] = "default",
        tasks: Sequence[str] | None = None,
        iterations: int = 20,
        team_weight: float = DEFAULT_TEAM_WEIGHT,
        roles: Sequence[Role] = ROLES,
        shared: Sequence[str] = SHARED_FOLDERS,
        compute_seconds: float | None = None,
        sandbox: str | Sandbox = "local",
        scale: str = "ci",
        run_dir: str | Path | None = None,
        workers: int = 1,
        agent: str = "factory",
        model: str = "",
        covariates: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
        max_text_chars: int = 16_000,
        info_stats: bool = False,
        shared_cache: bool = True,
    ):
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'ansi' or None")
        # One core step per parallel step, each evaluating a changed workspace: at most one
        # iteration per step, and max_steps ends the episode after `iterations` steps.
        self.core = RSIEnv(
            suite=suite, tasks=tasks, iterations=iterations, compute_seconds=compute_seconds, auto_evaluate=False,
            sandbox=sandbox, scale=scale, run_dir=run_dir, workers=workers, max_steps=iterations, agent=agent,
            model=model, covariates=covariates, max_text_chars=max_text_chars, info_stats=info_stats,
            shared_cache=shared_cache,
        )
        self.log = self.core.log = PendingRecordLog(self.core.log.path)
        self.team_weight = float(team_weight)
        self.render_mode = render_mode
        self.regions: dict[str, Region] = build_regions(self.core.tasks, roles, shared)
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
        core_obs, core_info = self.core.reset(seed=seed, options=files)
        self.agents = list(self.possible_agents)
        self.submitted: set[str] = set()
        self.team_return = 0.0
        losses = self.core.result.losses
        self.log.commit(self._record_fields({}, dict.fromkeys(self.agents, 0.0), [], losses)
                        | {"roles": self.roles_table, "team_weight": self.team_weight})
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
        core_obs, suite_decrease, _, truncated_all, core_info = self.core.step(core_ops)
        losses = self.core.result.losses
        parts = {
            name: (self._own_loss(name, previous) - self._own_loss(name, losses), self.team_weight * suite_decrease)
            for name in acting
        }
        rewards = {name: float(own + team) for name, (own, team) in parts.items()}
        self.team_return += sum(rewards.values())
        terminations = {name: name in self.submitted for name in acting}
        truncations = {name: bool(truncated_all) and not terminations[name] for name in acting}
        self.agents = [name for name in acting if not (terminations[name] or truncations[name])]
        self.log.commit(self._record_fields(applied, rewards, conflicts, losses))
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
        """Carry out one role's ops; refused ones are reported, never raised. Returns (ops, submitted)."""
        if action is None:  # a role may sit a step out
            return [], False
        region = self.regions[name]
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
            kind = edit_kind(op.path) if op.path and op.name in operations.EDITING_OPS else None
            why = refusal(op, region, self.regions)
            if why:
                done.append((OpResult(op.name, op.path, kind, False, why), []))
                continue
            outcome = self._revert(region, op) if op.name == "revert" else self.core.apply_op(op)
            wrote = (list(region.own) if op.name == "revert" else op_targets(op)) if outcome.ok else []
            done.append((outcome, wrote))
        if parsed.error:
            done.append((OpResult("invalid", None, None, False, parsed.error), []))
        return done, submitted

    def _revert(self, region: Region, op: Op) -> OpResult:
        """Restore the folders a role owns (not the shared ones) to their state at an iteration."""
        iteration = op.args["iteration"]
        if iteration not in self.core.commits:
            known = f"iterations so far: 0..{self.core.iteration}"
            return OpResult("revert", None, None, False, f"no iteration {iteration}; {known}")
        workspace = self.core.workspace
        try:
            with tempfile.TemporaryDirectory(prefix="rsigym-factory-revert-") as tmp:
                snapshot = Path(tmp)
                workspace.export(self.core.commits[iteration], snapshot)
                for rel in workspace.files():
                    if any(is_under(rel, prefix) for prefix in region.own) and not (snapshot / rel).is_file():
                        workspace.resolve(rel).unlink()
                for prefix in region.own:
                    folder = snapshot / prefix
                    for file in sorted(folder.rglob("*")) if folder.is_dir() else []:
                        if file.is_file() and not file.is_symlink():
                            workspace.write(str(file.relative_to(snapshot)), file.read_bytes())
        except (OSError, PathRefused, RuntimeError) as err:
            return OpResult("revert", None, None, False, f"revert failed: {err}")
        return OpResult("revert", None, None, True, output=f"{', '.join(region.own)} restored to iteration {iteration}")

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

    def _record_fields(self, applied: Mapping[str, list[Applied]], rewards: Mapping[str, float],
                       conflicts: list[dict], losses: Mapping[str, float]) -> dict[str, Any]:
        """What the factory adds to the core's record: ops tagged with their role, and per-role figures."""
        return {
            "env_id": ENV_ID,
            "ops": [
                {**result.log_entry(), "agent": name, "wrote": paths}
                for name, done in applied.items() for result, paths in done
            ],
            "agent_rewards": dict(rewards),
            "team_reward": float(sum(rewards.values())),
            "team_return": self.team_return,
            "role_losses": {name: self._own_loss(name, losses) for name in self.possible_agents},
            "conflicts": conflicts,
            "submitted": sorted(self.submitted, key=self.possible_agents.index),
        }


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
