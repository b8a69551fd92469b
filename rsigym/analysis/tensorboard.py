"""The rsigym TensorBoard tags, written live by :class:`TensorBoardLogger` or replayed from a run log.

The x axis is the global env step, as in CleanRL and SB3. Each reset writes the starter's
losses at the current global step, so a run's curves start at iteration 0 (x = 0).

* CleanRL's episode charts, at each episode's end: ``charts/episodic_return`` (sum of
  rewards) and ``charts/episodic_length`` (steps).
* Every step and every reset: ``rsigym/loss/public`` (suite loss), ``rsigym/loss/<task>``,
  ``rsigym/compute_s`` (compute seconds used in the episode); live only, as the run log
  does not keep them: ``rsigym/medals/{gold,silver,bronze,any}`` (how many tasks hold that
  medal now; ``any``: at least bronze) and ``rsigym/budget/{iterations_left,compute_left_s}``.
* Every step: ``rsigym/reward``.
* Each episode's end: ``rsigym/velocity`` (public loss gained per iteration),
  ``rsigym/velocity_per_compute_hour``, ``rsigym/gap_closed``, ``rsigym/final_loss``,
  ``rsigym/t_half``, ``rsigym/private_loss``, ``rsigym/private_public_gap`` (see
  :func:`~rsigym.analysis.curves.curve_metrics`) and the image ``rsigym/improvement_curve``.
* hparams (agent, model, seed, env, covariates) with the metrics ``hparams/velocity`` and
  ``hparams/private_loss``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym

from rsigym.analysis.curves import Curve, curve_metrics
from rsigym.analysis.runlog import Run

HPARAM_METRICS = ("hparams/velocity", "hparams/private_loss")
MEDALS = ("gold", "silver", "bronze")


def run_hparams(agent: str, model: str | None, seed: int | None, env_id: str,
                covariates: Mapping[str, Any]) -> dict[str, Any]:
    """The hyper-parameters a run is compared on, flattened to TensorBoard's value types."""
    values: dict[str, Any] = {"agent": agent, "model": model or "-", "seed": -1 if seed is None else seed,
                              "env_id": env_id}
    for name, value in covariates.items():
        values[f"covariate/{name}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return values


def medal_counts(medals: Mapping[str, str | None]) -> dict[str, int]:
    """How many tasks hold each medal (``info["medals"]``); ``any`` counts tasks with at least bronze."""
    counts = {medal: sum(1 for held in medals.values() if held == medal) for medal in MEDALS}
    counts["any"] = sum(counts.values())
    return counts


class RunWriter:
    """One TensorBoard run directory with the rsigym tags."""

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter  # torch is heavy: import on first use

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir))

    def hparams(self, values: Mapping[str, Any]) -> None:
        """Declare the run's hyper-parameters and the metrics the HParams dashboard shows."""
        from torch.utils.tensorboard.summary import hparams

        for summary in hparams(dict(values), dict.fromkeys(HPARAM_METRICS, 0.0)):
            self.writer.file_writer.add_summary(summary)

    def state(self, global_step: int, losses: Mapping[str, float], loss: float,
              medals: Mapping[str, str | None] | None = None, budget: Mapping[str, float | None] | None = None,
              compute_s: float | None = None) -> None:
        """Scalars of the env's state after a reset or a step; ``None`` parts are not known, so not written."""
        self.writer.add_scalar("rsigym/loss/public", loss, global_step)
        for task, value in losses.items():
            self.writer.add_scalar(f"rsigym/loss/{task}", value, global_step)
        if medals is not None:
            for medal, count in medal_counts(medals).items():
                self.writer.add_scalar(f"rsigym/medals/{medal}", count, global_step)
        for name, value in (budget or {}).items():
            if value is not None:  # e.g. no compute budget set
                self.writer.add_scalar(f"rsigym/budget/{name}", value, global_step)
        if compute_s is not None:
            self.writer.add_scalar("rsigym/compute_s", compute_s, global_step)

    def reward(self, global_step: int, reward: float) -> None:
        self.writer.add_scalar("rsigym/reward", reward, global_step)

    def episode(self, global_step: int, curve: Curve, episode_return: float, length: int,
                private_loss: float | None, figure: bool = True) -> None:
        """Summary scalars, hparams metrics and the improvement-curve figure of a finished episode."""
        metrics = curve_metrics(curve)
        scalars = {
            "charts/episodic_return": episode_return,
            "charts/episodic_length": length,
            "rsigym/velocity": metrics.velocity,
            "rsigym/velocity_per_compute_hour": metrics.velocity_per_compute_hour,
            "rsigym/gap_closed": metrics.gap_closed,
            "rsigym/final_loss": metrics.final_loss,
            "rsigym/t_half": metrics.t_half,
            "hparams/velocity": metrics.velocity,
        }
        if private_loss is not None:
            scalars["rsigym/private_loss"] = private_loss
            scalars["rsigym/private_public_gap"] = private_loss - metrics.final_loss
            scalars["hparams/private_loss"] = private_loss
        for tag, value in scalars.items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, global_step)
        if figure and len(curve) > 1:
            from rsigym.analysis.plots import curve_figure

            self.writer.add_figure("rsigym/improvement_curve", curve_figure(curve), global_step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def replay_run(runs: list[Run], log_dir: str | Path) -> Path:
    """Write the TensorBoard summaries of the episodes of one run log, as the live wrapper would have."""
    first = runs[0]
    writer = RunWriter(log_dir)
    writer.hparams(run_hparams(first.agent, first.model, first.seed, first.env_id, first.covariates))
    global_step = 0
    for run in sorted(runs, key=lambda r: r.episode):
        episode_return = 0.0
        for index, record in enumerate(run.records):
            if index:  # the first record is the reset's: the starter, no step
                global_step += 1
                reward = float(record.get("reward") or 0.0)
                episode_return += reward
                writer.reward(global_step, reward)
            writer.state(global_step, record.get("losses") or {}, float(record.get("loss", math.nan)),
                         compute_s=float(record.get("compute_s") or 0.0))
        writer.episode(global_step, run.curve(), episode_return, len(run.records) - 1, run.private_loss)
    writer.close()
    return Path(log_dir)


class TensorBoardLogger(gym.Wrapper):
    """Log every reset, step and episode of the wrapped rsigym env to TensorBoard (tags above).

    Writes to ``<run_dir>/tb`` of the env unless ``log_dir`` is given; ``figures=False`` skips
    the curve images. Compute seconds come from the env's ``stats()`` where it has one.

        env = TensorBoardLogger(gym.make("RSI-MLE-v0"))
    """

    def __init__(self, env: gym.Env, log_dir: str | Path | None = None, figures: bool = True):
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

    def _compute_seconds(self) -> float | None:
        stats = getattr(self.env.unwrapped, "stats", None)
        return float(stats()["compute_s"]) if callable(stats) else None

    def _write_state(self, writer: RunWriter, info: dict[str, Any], compute_s: float | None) -> None:
        writer.state(self.global_step, info.get("losses") or {}, float(info["loss"]), info.get("medals"),
                     info.get("budget"), compute_s)

    def _record_evaluation(self, info: dict[str, Any], compute_s: float | None) -> None:
        self._iterations.append(int(info["iteration"]))
        self._compute.append(compute_s or 0.0)
        self._losses.append(float(info["loss"]))
        self._kinds.append(tuple(sorted(self._pending_kinds)))
        self._pending_kinds = set()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self._writer is None:
            self._writer = self._open(info, seed)
        self._reset_episode()
        compute_s = self._compute_seconds()
        self._record_evaluation(info, compute_s)
        self._write_state(self._writer, info, compute_s)
        return obs, info

    def step(self, action: Any):
        writer = self._writer
        if writer is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.global_step += 1
        self._return += float(reward)
        self._length += 1
        compute_s = self._compute_seconds()
        self._pending_kinds.update(kind for kind in info.get("kinds") or () if kind)
        if info.get("evaluated"):
            self._record_evaluation(info, compute_s)
        writer.reward(self.global_step, float(reward))
        self._write_state(writer, info, compute_s)
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
