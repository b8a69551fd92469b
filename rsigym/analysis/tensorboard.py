"""The rsigym TensorBoard tags, written live by the wrapper or replayed from a run log.

Tags follow the SB3/CleanRL habit of ``section/name``:

* per step (x = global env step): ``loss/public``, ``loss/<task>``, ``reward``,
  ``budget/iterations_left``, ``budget/compute_left_s``, ``time/compute_s``
* per episode: ``episode/return``, ``episode/length``, ``episode/velocity``,
  ``episode/velocity_per_compute_hour``, ``episode/gap_closed``, ``episode/final_loss``,
  ``episode/private_loss``, ``episode/private_public_gap``, ``episode/t_half`` and the figure
  ``charts/improvement_curve``
* hparams (agent, model, seed, env, covariates) with the metrics ``hparams/velocity`` and
  ``hparams/private_loss``
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from rsigym.analysis.curves import Curve, curve_metrics
from rsigym.analysis.runlog import Run

HPARAM_METRICS = ("hparams/velocity", "hparams/private_loss")


def run_hparams(agent: str, model: str | None, seed: int | None, env_id: str,
                covariates: Mapping[str, Any]) -> dict[str, Any]:
    """The hyper-parameters a run is compared on, flattened to TensorBoard's value types."""
    values: dict[str, Any] = {"agent": agent, "model": model or "-", "seed": -1 if seed is None else seed,
                              "env_id": env_id}
    for name, value in covariates.items():
        values[f"covariate/{name}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return values


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

    def step(self, global_step: int, losses: Mapping[str, float], loss: float, reward: float,
             budget: Mapping[str, float] | None = None, compute_s: float | None = None) -> None:
        """Scalars of one env step."""
        self.writer.add_scalar("loss/public", loss, global_step)
        for task, value in losses.items():
            self.writer.add_scalar(f"loss/{task}", value, global_step)
        self.writer.add_scalar("reward", reward, global_step)
        for name, value in (budget or {}).items():
            if value is not None:  # e.g. no compute budget set
                self.writer.add_scalar(f"budget/{name}", value, global_step)
        if compute_s is not None:
            self.writer.add_scalar("time/compute_s", compute_s, global_step)

    def episode(self, global_step: int, curve: Curve, episode_return: float, length: int,
                private_loss: float | None, figure: bool = True) -> None:
        """Summary scalars, hparams metrics and the improvement-curve figure of a finished episode."""
        metrics = curve_metrics(curve)
        scalars = {
            "episode/return": episode_return,
            "episode/length": length,
            "episode/velocity": metrics.velocity,
            "episode/velocity_per_compute_hour": metrics.velocity_per_compute_hour,
            "episode/gap_closed": metrics.gap_closed,
            "episode/final_loss": metrics.final_loss,
            "episode/t_half": metrics.t_half,
            "hparams/velocity": metrics.velocity,
        }
        if private_loss is not None:
            scalars["episode/private_loss"] = private_loss
            scalars["episode/private_public_gap"] = private_loss - metrics.final_loss
            scalars["hparams/private_loss"] = private_loss
        for tag, value in scalars.items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, global_step)
        if figure and len(curve) > 1:
            from rsigym.analysis.plots import curve_figure

            self.writer.add_figure("charts/improvement_curve", curve_figure(curve), global_step)

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
        for record in run.records[1:]:  # the reset record is no step
            global_step += 1
            episode_return += float(record.get("reward") or 0.0)
            writer.step(global_step, record.get("losses") or {}, float(record.get("loss", math.nan)),
                        float(record.get("reward") or 0.0), compute_s=float(record.get("compute_s") or 0.0))
        writer.episode(global_step, run.curve(), episode_return, len(run.records) - 1, run.private_loss)
    writer.close()
    return Path(log_dir)
