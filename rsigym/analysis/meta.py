"""Meta-velocity: how velocity changes from one episode to the next when the harness carries over.

With :class:`rsigym.wrappers.carry_over.CarryOver` the harness (and optionally the weights)
left by episode e is the starting harness of episode e+1, while the task solutions restart
from the starter files. A ratio v(e+1)/v(e) above 1 is the recursive part of
self-improvement: the agent got faster at improving.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from rsigym.analysis.curves import curve_metrics
from rsigym.analysis.runlog import Run


@dataclass(frozen=True)
class MetaVelocity:
    """Velocity per episode of one run log, and the ratio of each episode to the one before."""

    run_id: str
    label: str
    episodes: tuple[int, ...]
    velocities: tuple[float, ...]
    ratios: tuple[float, ...]  # v(e+1)/v(e); NaN where v(e) <= 0

    @property
    def mean_ratio(self) -> float:
        """Geometric mean of the defined ratios (NaN when none is)."""
        defined = [r for r in self.ratios if r > 0 and math.isfinite(r)]
        return math.exp(sum(map(math.log, defined)) / len(defined)) if defined else math.nan


def meta_velocity(runs: Iterable[Run]) -> list[MetaVelocity]:
    """One :class:`MetaVelocity` per run id that has two or more episodes."""
    by_run: dict[str, list[Run]] = {}
    for run in runs:
        by_run.setdefault(run.run_id, []).append(run)
    results = []
    for run_id, episodes in by_run.items():
        if len(episodes) < 2:
            continue
        episodes.sort(key=lambda run: run.episode)
        velocities = [curve_metrics(run.curve()).velocity for run in episodes]
        ratios = [after / before if before > 0 else math.nan for before, after in zip(velocities, velocities[1:])]
        results.append(MetaVelocity(run_id, episodes[0].label, tuple(r.episode for r in episodes),
                                    tuple(velocities), tuple(ratios)))
    return results
