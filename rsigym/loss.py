"""Normalised task loss and suite loss (the definitions in README.md, "Rewards and the loss")."""
from __future__ import annotations

import math
import numbers
from typing import Mapping

LOSS_MIN, LOSS_MAX = -1.0, 2.0
INVALID_LOSS = LOSS_MAX


def normalised_loss(score: float | None, baseline: float, reference: float, valid: bool = True) -> float:
    """``L = (s_ref - s) / (s_ref - s_base)``: 1 at the starter, 0 at the reference, clipped to [-1, 2].

    The formula needs no direction: for a lower-is-better metric ``s_ref < s_base`` and the
    signs work out. An invalid solution, or a score that is missing, non-numeric, boolean or non-finite, costs 2.
    """
    if not valid or not isinstance(score, numbers.Real) or isinstance(score, bool):
        return INVALID_LOSS
    score = float(score)
    if not math.isfinite(score) or baseline == reference:
        return INVALID_LOSS
    loss = (reference - score) / (reference - baseline)
    return min(LOSS_MAX, max(LOSS_MIN, loss))


def suite_loss(losses: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted mean of task losses; tasks missing from ``weights`` weigh 1."""
    if not losses:
        return 0.0
    total = sum(weights.get(task, 1.0) for task in losses)
    return sum(loss * weights.get(task, 1.0) for task, loss in losses.items()) / total
