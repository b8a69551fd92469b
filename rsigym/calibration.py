"""What the suites' calibration scripts share: recording measured figures in ``task.json`` and
the command line ``python -m rsigym.envs.<suite>.calibrate [TASK ...] [--seeds ...]``.

The scores themselves come from :func:`rsigym.contract.score_solution`, the one way to grade a
solution outside an episode.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable, Iterable, Sequence

from rsigym.tasks import Task


def record_calibration(task: Task, **figures: Any) -> dict[str, Any]:
    """Write ``figures`` (baseline, reference, medals, calibration, ...) into the task's
    ``task.json``, keeping its other keys; returns the updated spec."""
    path = task.folder / "task.json"
    spec = json.loads(path.read_text())
    spec.update(figures)
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return spec


def calibration_main(
    description: str,
    tasks: Iterable[Task],
    calibrate: Callable[[Task, list[int]], dict[str, Any]],
    summary: Callable[[Task, dict[str, Any]], str],
    argv: Sequence[str] | None = None,
) -> None:
    """Parse ``[TASK ...] [--seeds S ...]``, calibrate each chosen task (all by default) and print
    ``summary(task, spec)`` for it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args(argv)
    for task in tasks:
        if not args.tasks or task.id in args.tasks:
            print(summary(task, calibrate(task, args.seeds)))
