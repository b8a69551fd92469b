"""Parametric edits shared by the scripted baselines: each task's named ``config.json`` overrides."""
from __future__ import annotations

import json
from typing import NamedTuple

from rsigym.tasks import Edit, Task


class Proposal(NamedTuple):
    task_id: str
    edit: Edit
    config: dict


def config_path(task_id: str) -> str:
    return f"tasks/{task_id}/config.json"


def propose(task: Task, current: dict, edit: Edit) -> Proposal:
    """The task's config with ``edit`` applied on top of ``current``."""
    return Proposal(task.id, edit, {**current, **edit.set})


def write_op(proposal: Proposal) -> dict:
    return {"op": "write", "path": config_path(proposal.task_id), "content": json.dumps(proposal.config, indent=2)}
