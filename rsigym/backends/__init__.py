"""Backends: where an env's tasks are graded and where episodes run.

``"local"``: this process (:class:`rsigym.evaluation.Evaluator`, ``workers`` threads;
:mod:`rsigym.backends.local` plays an episode in-process). ``"ray"``: Ray actors and tasks on a
local Ray instance or a cluster (:mod:`rsigym.backends.ray`; Ray is imported only when used).
"""
from __future__ import annotations

import difflib
from typing import Any

from rsigym.evaluation import Evaluator

BACKENDS: tuple[str, ...] = ("local", "ray")


def evaluator_for(backend: str, ray_address: str | None = None) -> tuple[type[Evaluator], dict[str, Any]]:
    """The evaluator class of ``backend`` and the keyword arguments it takes beyond the base
    class's (``ray_address``: the Ray cluster to join, see :func:`rsigym.backends.ray.connect`)."""
    if backend == "local":
        return Evaluator, {}
    if backend == "ray":
        from rsigym.backends.ray import RayEvaluator

        return RayEvaluator, {"address": ray_address}
    close = difflib.get_close_matches(str(backend), BACKENDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"backend must be one of {list(BACKENDS)}, not {backend!r}.{hint}")
