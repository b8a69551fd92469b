"""``ActionMenu``: a ``Discrete(K)`` menu of parametric edits over an rsigym env, for standard RL.

Every menu item becomes a real file edit in the workspace: the item reads the task's current
``tasks/<id>/config.json``, changes it and sends a ``write`` op (or a ``revert``) to the
wrapped text env. The menu of a task holds

- its named edits (``task.json`` ``edits``: model family, preprocessing, kernel fusion ...),
- a multiplier item for each numeric knob the starter or an edit sets (hyperparameters,
  learning rate, kernel block sizes, data-mixture weights ...), ×0.5 and ×2 by default, kept
  within [¼ × smallest, 4 × largest] of the values the task's files name so that the reachable
  configurations — and so the grades to compute — stay few,

plus one global item that reverts the workspace to the best iteration so far. An item that
changes nothing (a multiplier on a knob the current model lacks, a value at its bound) costs
the step and earns 0.

The observation is a ``Box``: per-task public losses, the two budget fractions, and a one-hot
of the last action (all zero after ``reset``).

    env = gym.make("RSI-MLE-Menu-v0", tasks=["digits", "wine"], iterations=8)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rsigym.env import RSIEnv
from rsigym.loss import LOSS_MAX, LOSS_MIN
from rsigym.tasks import Edit, Task

DEFAULT_MULTIPLIERS = (0.5, 2.0)
RANGE_FACTOR = 4.0  # how far a multiplier may push a knob beyond the values the task names


@dataclass(frozen=True)
class MenuItem:
    """One discrete action: a named edit, a multiplier on one knob, or a revert to the best iteration."""

    name: str
    task_id: str | None = None
    edit: Edit | None = None
    knob: tuple[str, ...] = ()  # key path into config.json, e.g. ("params", "C")
    factor: float = 1.0
    bounds: tuple[float, float] = (-math.inf, math.inf)
    integer: bool = False

    @property
    def is_revert(self) -> bool:
        return self.task_id is None

    def apply(self, config: dict) -> dict | None:
        """The config this item makes of ``config``, or ``None`` when it would change nothing."""
        if self.edit is not None:
            changed = {**config, **self.edit.set}  # shallow, like the scripted baselines' proposals
        else:
            value = _get(config, self.knob)
            if not _is_number(value):
                return None
            scaled = min(max(value * self.factor, self.bounds[0]), self.bounds[1])
            if self.integer:
                scaled = max(1, int(round(scaled)))
            changed = _set(config, self.knob, scaled)
        return None if changed == config else changed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _get(config: Mapping, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(config, Mapping) or key not in config:
            return None
        config = config[key]
    return config


def _set(config: dict, path: tuple[str, ...], value: Any) -> dict:
    """A copy of ``config`` with ``path`` set; the dicts along the path are copied, not shared."""
    head, *rest = path
    return {**config, head: _set(dict(config[head]), tuple(rest), value) if rest else value}


def _numeric_leaves(config: Mapping, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from _numeric_leaves(value, (*prefix, key))
        elif _is_number(value):
            yield (*prefix, key), value


def task_menu(task: Task, multipliers: Sequence[float] = DEFAULT_MULTIPLIERS) -> list[MenuItem]:
    """The menu items of one task: its named edits, then multipliers on its numeric knobs."""
    items = [MenuItem(f"{task.id}:{edit.name}", task.id, edit=edit) for edit in task.spec.edits]
    seen: dict[tuple[str, ...], list[float]] = {}
    for config in (task.starter_config(), *(edit.set for edit in task.spec.edits)):
        for path, value in _numeric_leaves(config):
            seen.setdefault(path, []).append(value)
    for path, values in seen.items():
        integer = all(isinstance(v, int) for v in values)
        low, high = min(values), max(values)
        # Knobs the files name as 0 (or negative) have no scale to multiply.
        if low <= 0:
            continue
        bounds = (low / RANGE_FACTOR, high * RANGE_FACTOR)
        for factor in multipliers:
            items.append(MenuItem(f"{task.id}:{'.'.join(path)}x{factor:g}", task.id, knob=path, factor=float(factor),
                                  bounds=bounds, integer=integer))
    return items


def build_menu(tasks: Sequence[Task], multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
               revert: bool = True) -> list[MenuItem]:
    """The whole menu: every task's items in suite order, then the revert-to-best item."""
    items = [item for task in tasks for item in task_menu(task, multipliers)]
    if revert:
        items.append(MenuItem("revert-best"))
    return items


class ActionMenu(gym.Wrapper):
    """Turn an rsigym text env into ``Discrete(K)`` actions and ``Box`` observations."""

    def __init__(self, env: gym.Env, multipliers: Sequence[float] = DEFAULT_MULTIPLIERS, revert: bool = True,
                 seeds: Sequence[int] | None = None):
        """``seeds``: when given, every reset draws the episode's data seed from this pool (a seed
        passed to ``reset`` seeds the draw), so that training revisits a few task instances and most
        grades come from the cache; held-out evaluation passes ``seeds=None`` and explicit seeds."""
        super().__init__(env)
        base = env.unwrapped
        self.task_ids = [task.id for task in base.tasks]
        self.items = build_menu(base.tasks, multipliers, revert)
        if not self.items:
            raise ValueError("the menu is empty: no task has edits or numeric config knobs, and revert is off")
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self._seed_rng = np.random.default_rng()
        n, k = len(self.task_ids), len(self.items)
        low = np.concatenate([np.full(n, LOSS_MIN), np.zeros(2), np.zeros(k)]).astype(np.float32)
        high = np.concatenate([np.full(n, LOSS_MAX), np.ones(2), np.ones(k)]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(k)
        self._best = (math.inf, 0)
        self._last: int | None = None

    @property
    def action_names(self) -> list[str]:
        return [item.name for item in self.items]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.seeds is not None and not (options or {}).get("resume"):
            if seed is not None:
                self._seed_rng = np.random.default_rng(seed)
            seed = self.seeds[int(self._seed_rng.integers(len(self.seeds)))]
        obs, info = self.env.reset(seed=seed, options=options)
        self._best = (info["loss"], info["iteration"])
        self._last = None
        return self._vector(obs), info

    def step(self, action: Any):
        index = int(action)
        if not 0 <= index < len(self.items):
            raise ValueError(f"action {action!r} is outside the menu Discrete({len(self.items)})")
        item = self.items[index]
        op = self.to_op(item)
        obs, reward, terminated, truncated, info = self.env.step(op)
        if info["evaluated"] and info["loss"] < self._best[0]:
            self._best = (info["loss"], info["iteration"])
        self._last = index
        info["menu_action"] = item.name
        info["menu_applied"] = op["op"] != "evaluate"
        return self._vector(obs), reward, terminated, truncated, info

    def to_op(self, item: MenuItem) -> dict:
        """The text-env op that carries ``item`` out on the current workspace."""
        if item.is_revert:
            return {"op": "revert", "iteration": self._best[1]}
        path = f"tasks/{item.task_id}/config.json"
        config = self._read_config(path)
        changed = None if config is None else item.apply(config)
        if changed is None:
            return {"op": "evaluate"}
        return {"op": "write", "path": path, "content": json.dumps(changed, indent=2)}

    def _read_config(self, rel: str) -> dict | None:
        path = Path(self.env.unwrapped.workspace_dir) / rel
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a missing or broken config leaves nothing to edit
        return config if isinstance(config, dict) else None

    def _vector(self, obs: dict) -> np.ndarray:
        last = np.zeros(len(self.items), dtype=np.float32)
        if self._last is not None:
            last[self._last] = 1.0
        losses = np.clip(np.asarray(obs["losses"], dtype=np.float32), LOSS_MIN, LOSS_MAX)
        return np.concatenate([losses, np.asarray(obs["budget"], dtype=np.float32), last])


def make_menu_env(multipliers: Sequence[float] = DEFAULT_MULTIPLIERS, revert: bool = True,
                  seeds: Sequence[int] | None = None, **env_kwargs: Any) -> gym.Env:
    """Entry point of ``RSI-MLE-Menu-v0``: an :class:`~rsigym.env.RSIEnv` built from ``env_kwargs``,
    wrapped in :class:`ActionMenu`."""
    return ActionMenu(RSIEnv(**env_kwargs), multipliers=multipliers, revert=revert, seeds=seeds)
