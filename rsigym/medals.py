"""Kaggle's medal rules as MLE-bench applies them: medal ranks depend on the leaderboard's size."""
from __future__ import annotations

import math
from typing import Sequence


def medal_ranks(teams: int) -> dict[str, int]:
    """The last rank that still earns each medal on a leaderboard of ``teams`` entries."""
    if teams < 100:
        ranks = {"gold": 0.10 * teams, "silver": 0.20 * teams, "bronze": 0.40 * teams}
    elif teams < 250:
        ranks = {"gold": 10, "silver": 0.20 * teams, "bronze": 0.40 * teams}
    elif teams < 1000:
        ranks = {"gold": 10 + 0.002 * teams, "silver": 50, "bronze": 100}
    else:
        ranks = {"gold": 10 + 0.002 * teams, "silver": 0.05 * teams, "bronze": 0.10 * teams}
    return {medal: max(1, math.ceil(rank)) for medal, rank in ranks.items()}


def medal_thresholds(scores: Sequence[float], direction: str) -> dict[str, float]:
    """Score thresholds for gold, silver and bronze on a leaderboard of ``scores``."""
    if not scores:
        raise ValueError("an empty leaderboard has no medal thresholds")
    ranked = sorted(scores, reverse=direction == "max")
    return {medal: float(ranked[min(rank, len(ranked)) - 1]) for medal, rank in medal_ranks(len(ranked)).items()}
