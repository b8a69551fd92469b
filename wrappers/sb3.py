"""``RSIMetricsCallback``: the env's RSI metrics in Stable-Baselines3's logger.

SB3 logs episodic return and length itself (``rollout/ep_rew_mean``, from its ``Monitor``); this
callback adds what rsigym measures, under the tags of :mod:`rsigym.analysis.tensorboard`, so SB3's
TensorBoard output, CSV or stdout show them next to SB3's own:

* ``rsigym/loss/public`` and ``rsigym/loss/<task>``: mean over the envs' steps since the last dump;
* ``rsigym/medals/{gold,silver,bronze,any}``: mean number of tasks holding each medal;
* ``rsigym/velocity`` (public loss gained per iteration) and ``rsigym/private_loss``: mean over
  the episodes that ended since the last dump.

::

    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from rsigym.wrappers.sb3 import RSIMetricsCallback

    model = PPO("MlpPolicy", make_vec_env("RSI-MLE-Menu-v0", n_envs=2), tensorboard_log="tb")
    model.learn(2048, callback=RSIMetricsCallback())

Stable-Baselines3 is an optional extra (``pip install rsigym[rl]``); only this module needs it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from rsigym.analysis.curves import Curve, curve_metrics
from rsigym.analysis.tensorboard import medal_counts

try:
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("rsigym.wrappers.sb3 needs Stable-Baselines3: pip install 'rsigym[rl]'") from error


class RSIMetricsCallback(BaseCallback):
    """Record the rsigym losses, medals, velocity and private loss of every env step in SB3's logger."""

    def __init__(self, verbose: int = 0):
        super().__init__(verbose)
        self._start: list[tuple[float, int] | None] = []

    def _on_training_start(self) -> None:
        self._start = [_episode_start(info) for info in self._reset_infos()]

    def _on_step(self) -> bool:
        infos: Sequence[Mapping[str, Any]] = self.locals["infos"]
        dones = self.locals["dones"]
        for index, (info, done) in enumerate(zip(infos, dones)):
            if "loss" not in info:
                continue  # not an rsigym env
            self.logger.record_mean("rsigym/loss/public", float(info["loss"]))
            for task, loss in (info.get("losses") or {}).items():
                self.logger.record_mean(f"rsigym/loss/{task}", float(loss))
            if info.get("medals") is not None:
                for medal, count in medal_counts(info["medals"]).items():
                    self.logger.record_mean(f"rsigym/medals/{medal}", count)
            if done:
                self._end_episode(index, info)
        return True

    def _end_episode(self, index: int, info: Mapping[str, Any]) -> None:
        start = self._start[index] if index < len(self._start) else None
        if start is not None:
            start_loss, start_iteration = start
            curve = Curve([start_iteration, int(info["iteration"])], [0.0, 0.0], [start_loss, float(info["loss"])])
            velocity = curve_metrics(curve).velocity
            if math.isfinite(velocity):  # NaN when the episode spent no iteration
                self.logger.record_mean("rsigym/velocity", velocity)
        if info.get("private_loss") is not None:
            self.logger.record_mean("rsigym/private_loss", float(info["private_loss"]))
        # The vec env has already reset this env; its reset info starts the next episode.
        reset_infos = self._reset_infos()
        if index < len(self._start):
            self._start[index] = _episode_start(reset_infos[index]) if index < len(reset_infos) else None

    def _reset_infos(self) -> list[Mapping[str, Any]]:
        return list(getattr(self.training_env, "reset_infos", None) or [])


def _episode_start(info: Mapping[str, Any] | None) -> tuple[float, int] | None:
    """The starting loss and iteration of an episode, from its reset info."""
    if not info or "loss" not in info:
        return None
    return float(info["loss"]), int(info.get("iteration", 0))
