"""Improvement curves and the velocity metrics defined in docs/analysis.md.

A :class:`Curve` is the public suite loss at each evaluation (iteration 0 is the starter
system). Velocity is measured on the best-so-far curve by default (an agent can always keep or
revert to its best iteration), as are t½ and the area; ``curve_metrics(curve, on="final")``
measures velocity on the final loss instead. Gain and gap closed judge what the agent ended with
(the final loss), and the gain's attribution to edit kinds telescopes to that gain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

ATTRIBUTION_KINDS = ("code", "weight", "harness", "other")
VELOCITY_BASES = ("best", "final")
# Velocity per compute-hour is reported (else NaN, "n/a") only after this much compute: over a few
# seconds the ratio of a gain to a sliver of an hour reads as thousands per hour and means nothing.
MIN_COMPUTE_SECONDS_FOR_RATE = 10.0


@dataclass
class Curve:
    """Loss at each evaluation, with the iteration number, cumulative compute and edit kinds."""

    iteration: Sequence[int]
    compute_s: Sequence[float]
    loss: Sequence[float]
    kinds: Sequence[tuple[str, ...]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.iteration = np.asarray(self.iteration, dtype=float)
        self.compute_s = np.asarray(self.compute_s, dtype=float)
        self.loss = np.asarray(self.loss, dtype=float)
        self.kinds = tuple(self.kinds) or tuple(() for _ in range(len(self.loss)))
        sizes = {len(self.iteration), len(self.compute_s), len(self.loss), len(self.kinds)}
        if len(sizes) != 1:
            raise ValueError(f"curve arrays differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def best(self) -> np.ndarray:
        """Best-so-far loss (NaN losses, e.g. a crashed evaluation, never count as best)."""
        filled = np.where(np.isnan(self.loss), np.inf, self.loss)
        best = np.minimum.accumulate(filled)
        return np.where(np.isinf(best), np.nan, best)

    @property
    def compute_elapsed(self) -> np.ndarray:
        """Compute seconds since the starter's evaluation, the cost of the improvement itself."""
        return self.compute_s - self.compute_s[0] if len(self) else self.compute_s

    def upto(self, k: float) -> "Curve":
        """The part of the curve with iteration ≤ k."""
        keep = self.iteration <= k
        return Curve(self.iteration[keep], self.compute_s[keep], self.loss[keep],
                     [kinds for kinds, kept in zip(self.kinds, keep) if kept])

    def best_at(self, iteration: float) -> float:
        """Best-so-far loss at an iteration (the last evaluation at or before it)."""
        index = np.searchsorted(self.iteration, iteration, side="right") - 1
        return float(self.best[index]) if index >= 0 else float("nan")


@dataclass(frozen=True)
class CurveMetrics:
    """Velocity metrics of one improvement curve (losses are public unless named private)."""

    initial_loss: float
    final_loss: float
    best_loss: float
    iterations: int
    compute_hours: float  # compute spent after the starter's evaluation
    gain: float  # L0 - LT
    gap_closed: float  # (L0 - LT) / L0; the gap is the distance to the reference (loss 0)
    velocity: float  # (L0 - best loss) per iteration, or (L0 - LT) per iteration with on="final"
    velocity_per_compute_hour: float  # the same gain per compute-hour; NaN below MIN_COMPUTE_SECONDS_FOR_RATE
    t_half: float  # iterations until the best-so-far loss first reaches L0 / 2 (inf: never)
    t_half_compute_s: float  # the same in compute seconds after the starter's evaluation
    auc_best: float  # mean of best-so-far / L0 over the iterations: 1 = no progress, 0 = reference at once
    attribution: dict[str, float]  # gain per edit kind; sums to ``gain``


def curve_metrics(curve: Curve, on: str = "best") -> CurveMetrics:
    """Gain, gap closed, velocity per iteration and per compute-hour, t½, area and attribution.

    ``on`` is what velocity measures: ``"best"`` (default) the gain of the best-so-far loss,
    ``"final"`` the gain of the final loss. Velocity per compute-hour is NaN until the run has
    spent :data:`MIN_COMPUTE_SECONDS_FOR_RATE` of compute after the starter's evaluation.
    """
    if on not in VELOCITY_BASES:
        raise ValueError(f"velocity is measured on one of {VELOCITY_BASES}, not {on!r}")
    if len(curve) == 0:
        raise ValueError("empty curve: the log has no evaluation")
    l0, lt = float(curve.loss[0]), float(curve.loss[-1])
    iterations = int(curve.iteration[-1] - curve.iteration[0])
    elapsed = curve.compute_elapsed
    hours = float(elapsed[-1]) / 3600.0
    gain = l0 - lt
    best = curve.best
    best_loss = float(np.nanmin(best))
    measured = l0 - best_loss if on == "best" else gain
    half_reached = np.flatnonzero(best <= l0 / 2) if l0 > 0 else np.array([], dtype=int)
    return CurveMetrics(
        initial_loss=l0,
        final_loss=lt,
        best_loss=best_loss,
        iterations=iterations,
        compute_hours=hours,
        gain=gain,
        gap_closed=gain / l0 if l0 > 0 else math.nan,
        velocity=measured / iterations if iterations > 0 else math.nan,
        velocity_per_compute_hour=(measured / hours if hours * 3600.0 >= MIN_COMPUTE_SECONDS_FOR_RATE
                                   else math.nan),
        t_half=float(curve.iteration[half_reached[0]]) if half_reached.size else math.inf,
        t_half_compute_s=float(elapsed[half_reached[0]]) if half_reached.size else math.inf,
        auc_best=_normalised_area(curve.iteration, best, l0),
        attribution=attribute_gain(curve),
    )


def _normalised_area(iteration: np.ndarray, best: np.ndarray, l0: float) -> float:
    # Between evaluations the best-so-far value holds, so the area is a left step sum.
    span = iteration[-1] - iteration[0]
    if span <= 0 or l0 <= 0:
        return math.nan
    return float(np.sum(best[:-1] * np.diff(iteration)) / (span * l0))


def attribute_gain(curve: Curve) -> dict[str, float]:
    """Split each evaluation's loss change among the kinds of the edits that preceded it.

    An evaluation preceded by edits of several kinds shares its change equally among them;
    one preceded by no successful edit of a known kind (a revert, a failed write) counts as
    ``other``. The parts telescope to the total gain ``L0 - LT``.
    """
    parts = dict.fromkeys(ATTRIBUTION_KINDS, 0.0)
    loss = np.nan_to_num(curve.loss, nan=2.0)  # a crashed evaluation scores like an invalid one
    for n in range(1, len(curve)):
        change = float(loss[n - 1] - loss[n])
        kinds = curve.kinds[n] or ("other",)
        for kind in kinds:
            parts[kind] += change / len(kinds)
    return parts
