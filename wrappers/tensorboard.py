"""``TensorBoardLogger``: live TensorBoard summaries of an rsigym env.

Writes, by default to ``<run>/tb/``, the tags listed in :mod:`rsigym.analysis.tensorboard`:
per-step losses, reward and budget; per-episode velocity, gap closed, private loss and an
improvement-curve figure; and the run's hparams (agent, model, seed, env, covariates) with
velocity and final private loss as the HParams dashboard's metrics.

    env = TensorBoardLogger(gym.make("RSI-MLE-v0"))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from rsigym.analysis.curves import Curve
from rsigym.analysis.tensorboard import RunWriter, run_hparams


class TensorBoardLogger(gym.Wrapper):
    """Log every step and episode of the wrapped rsigym env to TensorBoard."""

    def __init__(self, env: gym.Env, log_dir: str | Path | None = None, figures: bool = True):
        """``log_dir`` defaults to ``<run_dir>/tb`` of the env; ``figures=False`` skips the curve images."""
        super().__init__(env)
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.figures = figures
        self.global_step = 0
        self._writer: RunWriter | None = None
        self._reset_episode()

    def _reset_episode(self) -> None:
        self._iterations: list[int] = []
        self._compute: list[float] = []
        self._losses: list[float] = []
        self._kinds: list[tuple[str, ...]] = []
        self._pending_kinds: set[str] = set()
        self._return = 0.0
        self._length = 0

    def _open(self, info: dict[str, Any], seed: int | None) -> RunWriter:
        base = self.env.unwrapped
        log_dir = self.log_dir or Path(info.get("run_dir") or base.run_dir) / "tb"
        writer = RunWriter(log_dir)
        writer.hparams(run_hparams(str(getattr(base, "agent", None) or "unknown"), getattr(base, "model", None),
                                   seed, self.env.spec.id if self.env.spec else type(base).__name__,
                                   getattr(base, "covariates", None) or {}))
        return writer

    def _record_evaluation(self, info: dict[str, Any]) -> None:
        self._iterations.append(int(info["iteration"]))
        self._compute.append(float(info.get("compute_s") or 0.0))
        self._losses.append(float(info["loss"]))
        self._kinds.append(tuple(sorted(self._pending_kinds)))
        self._pending_kinds = set()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self._writer is None:
            self._writer = self._open(info, seed)
        self._reset_episode()
        self._record_evaluation(info)
        return obs, info

    def step(self, action: Any):
        writer = self._writer
        if writer is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.global_step += 1
        self._return += float(reward)
        self._length += 1
        self._pending_kinds.update(kind for kind in info.get("kinds") or () if kind)
        if info.get("evaluated"):
            self._record_evaluation(info)
        writer.step(self.global_step, info.get("losses") or {}, float(info["loss"]), float(reward),
                    info.get("budget"), info.get("compute_s"))
        if terminated or truncated:
            curve = Curve(self._iterations, self._compute, self._losses, self._kinds)
            writer.episode(self.global_step, curve, self._return, self._length, info.get("private_loss"),
                           figure=self.figures)
            writer.flush()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        super().close()
