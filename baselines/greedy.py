"""Greedy hill-climbing: try each task's sensible edits in turn, keep improvements, revert regressions.

    rsigym run RSI-MLE-v0 --agent greedy --iterations 10

Tasks with the most room (highest loss) are tried first, one edit per step, round-robin; an
edit is kept when the suite loss falls, otherwise the next step starts with a ``revert`` to
the best iteration so far. When every edit was tried it submits.
"""
from __future__ import annotations

from collections import deque

import gymnasium as gym

from rsigym.baselines.menu import Proposal, propose, write_op


class GreedyAgent:
    name = "greedy"

    def __init__(self, env: gym.Env, seed: int = 0, min_gain: float = 1e-6):
        self.tasks = {task.id: task for task in env.unwrapped.tasks}
        self.min_gain = min_gain

    def reset(self, obs: dict, info: dict) -> None:
        self.configs = {task_id: task.starter_config() for task_id, task in self.tasks.items()}
        order = sorted(self.tasks, key=lambda task_id: -info["losses"][task_id])
        queues = {task_id: deque(self.tasks[task_id].spec.edits) for task_id in order}
        self.candidates: deque = deque()
        while any(queues.values()):
            for task_id in order:
                if queues[task_id]:
                    self.candidates.append((task_id, queues[task_id].popleft()))
        self.best_loss = info["loss"]
        self.best_iteration = info["iteration"]
        self.pending: Proposal | None = None

    def act(self, obs: dict, info: dict) -> list[dict]:
        ops: list[dict] = []
        if self.pending is not None:
            if info["loss"] < self.best_loss - self.min_gain:
                self.configs[self.pending.task_id] = self.pending.config
                self.best_loss, self.best_iteration = info["loss"], info["iteration"]
            else:
                ops.append({"op": "revert", "iteration": self.best_iteration})
            self.pending = None
        if not self.candidates:
            return ops + [{"op": "submit"}]
        task_id, edit = self.candidates.popleft()
        self.pending = propose(self.tasks[task_id], self.configs[task_id], edit)
        return ops + [write_op(self.pending)]
