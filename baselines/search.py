"""Search baseline: a per-task hill-climber over each task's whole configuration space.

    rsigym run RSI-MLE-v0 --agent search --iterations 16 --seed 0

Every step mutates the best-known ``config.json`` of up to ``tasks_per_step`` tasks at once
(one or two dimensions each, values drawn from the task's search space) and reads back each
task's own public loss after the evaluation: a task keeps its mutation when its loss fell and
is written back to its best config otherwise. Tasks with more room left (higher loss) are
picked more often. Unlike ``greedy``, which walks a fixed menu of edits one task at a time,
it explores combinations of values and improves several tasks per evaluation.

A task's search space is ``search_space.json`` in its folder: a map from a config key to the
list of values it may take (``{"model": ["ridge", "hgb"], "learning_rate": [0.03, 0.1]}``).
A task without one searches its menu of edits instead: each edit is a dimension to switch on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rsigym.baselines.menu import config_path
from rsigym.tasks import Task

SEARCH_SPACE_FILE = "search_space.json"


def search_space(task: Task) -> list[list[dict[str, Any]]]:
    """The task's dimensions, each a list of partial configs (one per value) to merge into a config."""
    path = Path(task.folder) / SEARCH_SPACE_FILE
    if path.is_file():
        space = json.loads(path.read_text())
        return [[{key: value} for value in values] for key, values in space.items() if values]
    return [[dict(edit.set)] for edit in task.spec.edits]


class SearchAgent:
    name = "search"

    def __init__(self, env: gym.Env, seed: int = 0, tasks_per_step: int = 4, min_gain: float = 1e-6):
        self.tasks = {task.id: task for task in env.unwrapped.tasks}
        self.spaces = {task_id: search_space(task) for task_id, task in self.tasks.items()}
        self.spaces = {task_id: space for task_id, space in self.spaces.items() if space}
        self.rng = np.random.default_rng(seed)
        self.tasks_per_step = tasks_per_step
        self.min_gain = min_gain

    def reset(self, obs: dict, info: dict) -> None:
        self.best = {task_id: self.tasks[task_id].starter_config() for task_id in self.spaces}
        self.best_loss = {task_id: float(info["losses"][task_id]) for task_id in self.spaces}
        self.pending: dict[str, dict] = {}

    def act(self, obs: dict, info: dict) -> list[dict]:
        ops: list[dict] = []
        for task_id, config in self.pending.items():
            loss = float(info["losses"][task_id])
            if loss < self.best_loss[task_id] - self.min_gain:
                self.best[task_id], self.best_loss[task_id] = config, loss
            else:
                ops.append(self._write(task_id, self.best[task_id]))  # back to the best config
        self.pending = {}
        if not self.spaces:
            return ops + [{"op": "submit"}]
        for task_id in self._pick_tasks():
            config = self._mutate(task_id)
            self.pending[task_id] = config
            ops.append(self._write(task_id, config))
        return ops

    def _pick_tasks(self) -> list[str]:
        """Up to ``tasks_per_step`` distinct tasks, drawn with probability growing with their loss."""
        ids = sorted(self.spaces)
        room = np.array([max(self.best_loss[task_id], 0.0) + 0.05 for task_id in ids])
        count = min(self.tasks_per_step, len(ids))
        return list(self.rng.choice(ids, size=count, replace=False, p=room / room.sum()))

    def _mutate(self, task_id: str) -> dict:
        """The best config with one or two dimensions set to a value it does not hold yet."""
        config = dict(self.best[task_id])
        space = self.spaces[task_id]
        for dimension in self.rng.choice(len(space), size=min(len(space), int(self.rng.integers(1, 3))), replace=False):
            options = [option for option in space[dimension] if any(config.get(k) != v for k, v in option.items())]
            if options:
                config.update(options[int(self.rng.integers(len(options)))])
        return config

    @staticmethod
    def _write(task_id: str, config: dict) -> dict:
        return {"op": "write", "path": config_path(task_id), "content": json.dumps(config, indent=2)}
