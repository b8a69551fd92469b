"""The ecosystem tests build envs exactly as users do: by id, with the default keyword arguments.

Only ``tasks`` (one quick task) and ``iterations`` (short episodes) are set, to keep them fast;
neither hides anything the defaults do.
"""
from __future__ import annotations

import rsigym  # noqa: F401  (registers the env ids)

TASKS = ["wine"]
SMALL = {"tasks": TASKS, "iterations": 2}  # env kwargs: one quick task, two iterations per episode


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar under ``log_dir``, read back with TensorBoard's own EventAccumulator: {tag: [(step, value)]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
