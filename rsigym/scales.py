"""Scales: the sizes a task instance comes in, and the one table of per-scale settings a task keeps.

Every task instance is built at one scale: ``"ci"`` (seconds per task on a CPU, what tests and
the default env use) or ``"full"`` (the sizes a result is reported at). The names are defined
here once (:data:`SCALES`). A task that sizes anything by scale keeps one table,
``{scale: ScaleConfig}`` made by :func:`scale_table`, which must name every scale: the data it
builds (``sizes``, the task's own dataclass or dict), the CPU seconds a solution run may use,
and how a benchmark is timed. The wall-clock timeout of a run is task data, ``"timeout"`` in
the task's ``task.json`` (:attr:`rsigym.tasks.TaskSpec.timeout`, default
:data:`DEFAULT_TIMEOUT_S`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

SCALES: tuple[str, ...] = ("ci", "full")
DEFAULT_SCALE = "ci"
# Wall-clock seconds of one solution run for a task whose task.json gives no "timeout".
DEFAULT_TIMEOUT_S: dict[str, float] = {"ci": 120.0, "full": 1800.0}

SizesT = TypeVar("SizesT")


def check_scale(scale: str) -> str:
    """``scale`` when it is one of :data:`SCALES`, else ``ValueError``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    return scale


@dataclass(frozen=True)
class Timing:
    """How a benchmark times one shape: ``warmup`` untimed calls, then the median of ``repeats`` timed ones."""

    repeats: int
    warmup: int


@dataclass(frozen=True)
class ScaleConfig(Generic[SizesT]):
    """What one scale of one task sets."""

    sizes: SizesT  # the task's own sizes: documents, bytes, problems, shapes (a dataclass or dict)
    cpu_seconds: int | None = None  # CPU seconds a solution run may use (None: the task's default limit)
    timing: Timing | None = None  # how solutions are timed, for tasks scored on speed


ValueT = TypeVar("ValueT")


def scale_table(**configs: ValueT) -> dict[str, ValueT]:
    """``{scale: config}`` for exactly the scales of :data:`SCALES` (``ValueError`` otherwise)."""
    if set(configs) != set(SCALES):
        raise ValueError(f"a scale table names every scale {SCALES}, not {sorted(configs)}")
    return {scale: configs[scale] for scale in SCALES}


__all__ = ["SCALES", "DEFAULT_SCALE", "DEFAULT_TIMEOUT_S", "ScaleConfig", "Timing", "check_scale", "scale_table"]
