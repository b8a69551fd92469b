"""Ranking agent+model pairs by velocity, with intervals over seeds.

A pair's runs are its seeds; each run counts with its first episode, so every entry starts
from the same starter harness (later, carried-over episodes are meta-velocity's business).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

from rsigym.analysis.curves import ATTRIBUTION_KINDS, CurveMetrics, curve_metrics
from rsigym.analysis.role_attribution import gain_by_role, is_factory_run
from rsigym.analysis.runlog import Run


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t interval of the finite values (NaN interval with fewer than two)."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return math.nan, (math.nan, math.nan)
    mean = float(finite.mean())
    if finite.size < 2:
        return mean, (math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size))
    return mean, (mean - half, mean + half)


@dataclass(frozen=True)
class RunSummary:
    """One run's metrics next to its tags."""

    run: Run
    metrics: CurveMetrics

    @property
    def private_public_gap(self) -> float:
        private = self.run.private_loss
        return math.nan if private is None else private - self.metrics.final_loss


@dataclass(frozen=True)
class Entry:
    """One agent+model pair on the leaderboard."""

    label: str
    runs: tuple[RunSummary, ...]
    velocity: float
    velocity_interval: tuple[float, float]
    velocity_per_compute_hour: float
    velocity_per_compute_hour_interval: tuple[float, float]
    gap_closed: float
    final_loss: float
    private_loss: float
    private_public_gap: float
    t_half: float
    auc_best: float
    attribution: dict[str, float] = field(default_factory=dict)
    roles: dict[str, float] = field(default_factory=dict)  # factory runs: mean gain per role
    forecast_2x_budget: float = math.nan  # mean forecast best-so-far loss at twice the runs' budgets

    @property
    def seeds(self) -> list[int | None]:
        return [summary.run.seed for summary in self.runs]


def first_episodes(runs: Iterable[Run]) -> list[Run]:
    """The earliest episode of each run id."""
    first: dict[str, Run] = {}
    for run in runs:
        if run.run_id not in first or run.episode < first[run.run_id].episode:
            first[run.run_id] = run
    return list(first.values())


Setup = tuple[str, tuple[str, ...], int | None, str | None]  # env, task ids, budget, scale


def setups(runs: Iterable[Run]) -> dict[Setup, list[Run]]:
    """Runs grouped by what must match for their velocities to be comparable (:attr:`Run.setup`)."""
    groups: dict[Setup, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.setup, []).append(run)
    return groups


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _role_gains(summaries: Iterable[RunSummary]) -> dict[str, float]:
    """Mean gain per factory role over the runs that come from the factory env (else empty)."""
    splits = [gain_by_role(s.run.records) for s in summaries if is_factory_run(s.run.records)]
    roles = sorted({role for split in splits for role in split})
    return {role: _mean(split.get(role, 0.0) for split in splits) for role in roles}


def forecast_at_twice_budget(run: Run) -> float:
    """The run's forecast best-so-far loss at twice its budget (its last iteration when the budget is
    unknown), from every logged iteration; NaN when the run is too short to forecast."""
    from rsigym.analysis.forecast import ForecastError, forecast

    last = int(run.curve().iteration[-1])
    try:
        return forecast(run, 2 * (run.budget or last), last).value
    except ForecastError:
        return math.nan


def leaderboard(runs: Iterable[Run], level: float = 0.95) -> list[Entry]:
    """Entries ranked by mean velocity per iteration (best first)."""
    groups: dict[str, list[RunSummary]] = {}
    for run in first_episodes(runs):
        groups.setdefault(run.label, []).append(RunSummary(run, curve_metrics(run.curve())))
    entries = []
    for label, summaries in groups.items():
        summaries.sort(key=lambda s: (s.run.seed is None, s.run.seed, s.run.run_id))
        metrics = [s.metrics for s in summaries]
        velocity, velocity_interval = mean_interval([m.velocity for m in metrics], level)
        per_hour, per_hour_interval = mean_interval([m.velocity_per_compute_hour for m in metrics], level)
        private = [s.run.private_loss for s in summaries if s.run.private_loss is not None]
        entries.append(Entry(
            label, tuple(summaries), velocity, velocity_interval, per_hour, per_hour_interval,
            gap_closed=_mean(m.gap_closed for m in metrics),
            final_loss=_mean(m.final_loss for m in metrics),
            private_loss=_mean(private),
            private_public_gap=_mean(s.private_public_gap for s in summaries),
            t_half=float(np.median([m.t_half for m in metrics])),
            auc_best=_mean(m.auc_best for m in metrics),
            attribution={kind: _mean(m.attribution[kind] for m in metrics) for kind in ATTRIBUTION_KINDS},
            roles=_role_gains(summaries),
            forecast_2x_budget=_mean(forecast_at_twice_budget(s.run) for s in summaries),
        ))
    entries.sort(key=lambda e: -e.velocity if math.isfinite(e.velocity) else math.inf)
    return entries
