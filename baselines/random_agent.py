"""Random baseline: every step applies a uniformly drawn edit from some task's menu, never reverting.

    rsigym run RSI-MLE-v0 --agent random --iterations 10 --seed 0
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from rsigym.baselines.menu import propose, write_op


class RandomAgent:
    name = "random"

    def __init__(self, env: gym.Env, seed: int = 0):
        self.tasks = [task for task in env.unwrapped.tasks if task.spec.edits]
        self.rng = np.random.default_rng(seed)

    def reset(self, obs: dict, info: dict) -> None:
        self.configs = {task.id: task.starter_config() for task in self.tasks}

    def act(self, obs: dict, info: dict) -> dict:
        if not self.tasks:
            return {"op": "evaluate"}
        task = self.tasks[self.rng.integers(len(self.tasks))]
        edit = task.spec.edits[self.rng.integers(len(task.spec.edits))]
        proposal = propose(task, self.configs[task.id], edit)
        self.configs[task.id] = proposal.config
        return write_op(proposal)
