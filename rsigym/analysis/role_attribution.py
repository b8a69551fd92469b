"""Who made the gain: splitting a factory episode's loss decrease among its roles, from the run log.

Every factory step ends with one evaluation, so a task's loss change at a step is caused by
that step's edits. Each task's weighted change goes to the roles whose successful ops wrote
one of its inputs in that step (its ``tasks/<id>/`` folder, or a folder every solution sees:
``lib/``, ``weights/``), shared equally when several did; a change no role's op explains goes
to ``"other"`` (a non-deterministic grader would show up there). The parts add up to the
episode's total gain ``L0 - LT`` of the public suite loss.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import PurePosixPath
from typing import Any

from rsigym.evaluation import SHARED_DIRS

OTHER = "other"


def is_factory_run(records: Iterable[Mapping[str, Any]]) -> bool:
    """Whether these run-log records come from the factory (they carry per-role rewards)."""
    return any("agent_rewards" in record for record in records)


def tasks_written(path: str, task_ids: Sequence[str]) -> set[str]:
    """The tasks whose solution runs read the workspace path ``path``."""
    parts = PurePosixPath(path).parts
    if not parts:
        return set()
    if parts[0] in SHARED_DIRS:
        return set(task_ids)
    if parts[0] == "tasks" and len(parts) > 1 and parts[1] in task_ids:
        return {parts[1]}
    return set()


def gain_by_role(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Split one factory episode's gain among its roles (plus ``"other"``); the parts sum to L0 - LT.

    ``records`` are the episode's run-log records in step order, reset record first (an
    :class:`rsigym.analysis.runlog.Run`'s ``records``). Task weights come from the reset
    record's task table (weight 1 where it is missing).
    """
    records = sorted(records, key=lambda r: int(r.get("step", 0)))
    if not records:
        return {OTHER: 0.0}
    first = records[0]
    roles = list(first.get("roles") or {})
    parts = {name: 0.0 for name in roles} | {OTHER: 0.0}
    table = first.get("tasks") or {}
    for before, after in pairwise(records):
        losses_before, losses_after = before.get("losses") or {}, after.get("losses") or {}
        task_ids = [task for task in losses_after if task in losses_before]
        if not task_ids:
            continue
        weights = {task: float((table.get(task) or {}).get("weight", 1.0)) for task in task_ids}
        total = sum(weights.values())
        writers: dict[str, list[str]] = {task: [] for task in task_ids}
        for op in after.get("ops") or ():
            if not op.get("ok") or not op.get("agent"):
                continue
            for path in op.get("wrote") or ():
                for task in tasks_written(path, task_ids):
                    if op["agent"] not in writers[task]:
                        writers[task].append(op["agent"])
        for task in task_ids:
            change = (float(losses_before[task]) - float(losses_after[task])) * weights[task] / total
            credited = writers[task] or [OTHER]
            for name in credited:
                parts[name] = parts.get(name, 0.0) + change / len(credited)
    return parts
