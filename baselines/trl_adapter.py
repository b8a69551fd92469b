"""Train language models on rsigym with TRL's ``GRPOTrainer``.

Two hooks, both playing real episodes of the text env (``RSI-MLE-v0`` by default):

- **reward function** (single turn): :func:`make_dataset` turns task instances (seeds) into
  prompts — the env's first observation: task briefs, files, the action protocol and the starter's
  feedback — and :class:`RSIReward` plays
  each completion's JSON action as the first step of a fresh episode on the row's seed; the
  reward is the loss decrease.

  .. code-block:: python

      from trl import GRPOConfig, GRPOTrainer
      from rsigym.baselines.trl_adapter import RSIReward, make_dataset
      env_kwargs = {"suite": "toy", "tasks": ["digits", "wine"], "iterations": 1}
      trainer = GRPOTrainer(model="Qwen/Qwen3-0.6B", reward_funcs=RSIReward(**env_kwargs),
                            train_dataset=make_dataset(range(64), **env_kwargs),
                            args=GRPOConfig(output_dir="runs/trl-grpo", num_generations=8))
      trainer.train()

- **environment** (multi-turn tool use): :class:`RSIToolEnv` for ``environment_factory``;
  each rollout is an episode whose tools are the workspace ops (``read_file``,
  ``write_file``, ``evaluate``) and whose reward (``get_reward``) is the episode's total loss
  decrease after a final ``submit``.

Infrastructure failures (``info["infra_error"]``, see docs/security.md) are masked with TRL's own
convention: a hook returns ``None`` for that sample, which ``GRPOTrainer`` treats as unscorable
(no advantage, left out of the reward statistics) instead of a real 0.

  .. code-block:: python

      trainer = GRPOTrainer(model=..., environment_factory=tool_env_factory(tasks=["digits"], iterations=4),
                            train_dataset=make_dataset(range(64), tasks=["digits"], iterations=4), args=...)
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

import gymnasium as gym

from rsigym.baselines.llm_agent import INSTRUCTIONS, extract_action
from rsigym.sandbox import InfraError

ENV_ID = "RSI-MLE-v0"
DEFAULT_ENV_KWARGS: dict[str, Any] = {"iterations": 1, "suite": "toy"}  # the toy tasks: fast to grade


def make_dataset(seeds: Iterable[int], env_id: str = ENV_ID, conversational: bool = True, **env_kwargs: Any):
    """A ``datasets.Dataset`` with a ``prompt`` (the starter's feedback on that task instance) and a ``seed`` per row."""
    from datasets import Dataset  # optional dependency, shipped with TRL

    env = gym.make(env_id, **{**DEFAULT_ENV_KWARGS, **env_kwargs})
    rows: dict[str, list] = {"prompt": [], "seed": []}
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))  # the first observation: tasks, files, protocol and feedback
            user = f"{obs['text']}\n\nReply with one JSON action."
            prompt = ([{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": user}]
                      if conversational else f"{INSTRUCTIONS}\n\n{user}\n")
            rows["prompt"].append(prompt)
            rows["seed"].append(int(seed))
    finally:
        env.close()
    return Dataset.from_dict(rows)


def completion_text(completion: Any) -> str:
    """The text of a completion: a plain string, or the last message of a conversational one."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


class RSIReward:
    """``reward_funcs`` hook: each completion is the first action of a fresh episode on its row's seed."""

    def __init__(self, env_id: str = ENV_ID, **env_kwargs: Any):
        self.env_id = env_id
        self.env_kwargs = {**DEFAULT_ENV_KWARGS, **env_kwargs}
        self._env: gym.Env | None = None
        self.__name__ = "rsigym"  # the name TRL logs this reward under

    @property
    def env(self) -> gym.Env:
        if self._env is None:  # built on first use, so that the trainer can pickle the hook beforehand
            self._env = gym.make(self.env_id, **self.env_kwargs)
        return self._env

    def __call__(self, prompts: list, completions: list, seed: list[int], **kwargs: Any) -> list[float | None]:
        """The loss decrease of each completion's action; ``None`` (TRL: unscorable) where the host failed."""
        rewards: list[float | None] = []
        for completion, row_seed in zip(completions, seed):
            try:
                self.env.reset(seed=int(row_seed))
            except InfraError:  # the host could not even grade the starter: nothing to score
                rewards.append(None)
                continue
            _, reward, _, _, info = self.env.step(extract_action(completion_text(completion)))
            rewards.append(None if info.get("infra_error") else float(reward))
        return rewards

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


class RSIToolEnv:
    """``environment_factory`` hook: one episode per rollout; the workspace ops are its tools."""

    def __init__(self, env_id: str = ENV_ID, **env_kwargs: Any):
        self.env = gym.make(env_id, **{"iterations": 4, **env_kwargs, "auto_evaluate": False})
        self.total = 0.0
        self.done = False
        self.masked = False  # a step of this episode failed for infrastructure reasons

    def reset(self, seed: int = 0, **kwargs: Any) -> str:
        """Start an episode on task instance ``seed``; returns the starter's feedback."""
        obs, _ = self.env.reset(seed=int(seed))
        self.total, self.done, self.masked = 0.0, False, False
        return obs["text"]

    def _act(self, op: dict) -> str:
        if self.done:
            return "The episode is over."
        obs, reward, terminated, truncated, info = self.env.step(op)
        self.masked = self.masked or bool(info.get("infra_error"))
        self.total += reward
        self.done = terminated or truncated
        return obs["text"]

    def read_file(self, path: str) -> str:
        """Read a file of the workspace.

        Args:
            path: File path relative to the workspace, e.g. tasks/digits/config.json.

        Returns:
            The feedback, holding the file's content.
        """
        return self._act({"op": "read", "path": path})

    def write_file(self, path: str, content: str) -> str:
        """Create or replace a file of the workspace (a solution, shared code or the harness).

        Args:
            path: File path relative to the workspace, e.g. tasks/digits/config.json.
            content: The new content of the file.

        Returns:
            The feedback on the write.
        """
        return self._act({"op": "write", "path": path, "content": content})

    def evaluate(self) -> str:
        """Score the workspace on the public split; uses one iteration of the budget if it changed.

        Returns:
            The feedback: per-task losses (1 = starter, 0 = reference, 2 = invalid) and errors.
        """
        return self._act({"op": "evaluate"})

    def get_reward(self) -> float | None:
        """Submit (scoring pending edits) and return the episode's total loss decrease; ``None``
        (TRL: unscorable, left out of the update) when a step failed for infrastructure reasons."""
        if not self.done:
            self._act({"op": "submit"})
        return None if self.masked else self.total


def tool_env_factory(env_id: str = ENV_ID, **env_kwargs: Any) -> Callable[[], RSIToolEnv]:
    """The ``environment_factory`` argument of ``GRPOTrainer`` for these env settings."""
    return functools.partial(RSIToolEnv, env_id, **env_kwargs)
