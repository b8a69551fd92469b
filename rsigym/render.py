"""The Markdown feedback the policy reads in ``obs["text"]``."""
from __future__ import annotations

import string
from typing import NamedTuple, Sequence

from rsigym.evaluation import SuiteResult
from rsigym.tasks import Task

CHARSET = string.printable  # the observation and action Text spaces use this alphabet
_ALLOWED = frozenset(CHARSET)


class OpResult(NamedTuple):
    """What one op did; ``output`` is shown to the policy, the rest is also logged."""

    op: str
    path: str | None
    kind: str | None
    ok: bool
    error: str = ""
    output: str = ""

    def log_entry(self) -> dict:
        return {"op": self.op, "path": self.path, "kind": self.kind, "ok": self.ok, "error": self.error or None}


class Header(NamedTuple):
    env_id: str
    step: int
    iteration: int
    iterations: int
    compute_used: float
    compute_budget: float | None


def sanitize(text: str) -> str:
    """Replace characters outside :data:`CHARSET` (the Text space's alphabet) with '?'."""
    return "".join(ch if ch in _ALLOWED else "?" for ch in text)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(
    header: Header,
    tasks: Sequence[Task],
    result: SuiteResult,
    previous: dict[str, float] | None,
    ops: Sequence[OpResult],
    memory_head: str,
    notes: Sequence[str] = (),
    max_chars: int = 16_000,
) -> str:
    """Render the observation text and fit it into ``max_chars`` (op outputs are cut first)."""
    compute = (
        f"{header.compute_used:.0f}/{header.compute_budget:.0f} compute-s used"
        if header.compute_budget
        else "compute unlimited"
    )
    lines = [
        f"# {header.env_id} - step {header.step}",
        f"iteration {header.iteration}/{header.iterations}, {compute}",
        "",
        "## Losses (public split; 1 = starter, 0 = reference, 2 = invalid)",
        "| task | category | score | loss | change |",
        "|---|---|---|---|---|",
    ]
    for task in tasks:
        task_result = result.results[task.id]
        change = "" if previous is None else f"{task_result.public_loss - previous.get(task.id, task_result.public_loss):+.4f}"
        score = _fmt(task_result.grade.public) if task_result.grade.valid else "invalid"
        lines.append(f"| {task.id} | {task.spec.category} | {score} | {task_result.public_loss:.4f} | {change} |")
    lines += ["", f"**suite loss: {result.loss:.4f}**", ""]
    problems = [r for r in result.results.values() if not r.grade.valid]
    if problems:
        lines.append("## Errors")
        for task_result in problems:
            # fenced, so that text a solution printed cannot pass for the env's own tables
            error = task_result.grade.error.strip()[:1200].replace("`", "'")
            lines += [f"- {task_result.task_id}:", "```", error, "```"]
        lines.append("")
    lines += list(notes)
    if ops:
        lines.append("## This step")
        for op in ops:
            status = "ok" if op.ok else f"ERROR: {op.error}"
            lines.append(f"- {op.op}{' ' + op.path if op.path else ''}: {status}")
    tail = ["", "## harness/memory.md (head)", memory_head]
    text = "\n".join(lines + tail)
    outputs = [f"\n### output of {op.op} {op.path or ''}\n```\n{op.output}\n```" for op in ops if op.output]
    room = max_chars - len(text) - 50
    body = "".join(outputs)
    if len(body) > room:
        body = body[: max(room, 0)] + "\n[... output cut ...]"
    return sanitize(("\n".join(lines) + body + "\n".join(tail))[:max_chars])
