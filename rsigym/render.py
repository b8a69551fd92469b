"""The Markdown feedback the policy reads in ``obs["text"]``."""
from __future__ import annotations

import re
import string
from collections import defaultdict
from pathlib import PurePosixPath
from typing import NamedTuple, Sequence

from rsigym.actions import protocol_text
from rsigym.constants import ERROR_SHOWN_CHARS
from rsigym.evaluation import SuiteResult
from rsigym.tasks import Task
from rsigym.workspace import DESCRIPTION

CHARSET = string.printable  # the observation and action Text spaces use this alphabet
_ALLOWED = frozenset(CHARSET)
# Typography the task descriptions use, spelt in CHARSET (anything else outside it becomes "?")
_ASCII_SPELLING = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'",
                                 "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u00d7": "x", "\u2192": "->",
                                 "\u2264": "<=", "\u2265": ">=", "\u00a0": " ", "\u2248": "~"})


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
    """Spell common typography in ASCII and replace other characters outside :data:`CHARSET` (the
    Text space's alphabet) with '?'."""
    return "".join(ch if ch in _ALLOWED else "?" for ch in text.translate(_ASCII_SPELLING))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def metric_label(task: Task) -> str:
    """The task's metric and which way is better, e.g. ``accuracy (higher is better)``."""
    return f"{task.spec.metric} ({'higher' if task.spec.direction == 'max' else 'lower'} is better)"


def description_path(task: Task) -> str:
    """Where the workspace holds the task's description."""
    return f"tasks/{task.id}/{DESCRIPTION}"


MAX_EXCERPT_CHARS = 4000  # a task's excerpt when the brief has room to spare (few tasks)
MAX_TREE_CHARS = 3000  # the file listing in the brief
MIN_EXCERPT_CHARS = 60  # below this an excerpt says nothing; the header's pointer to the full text stays
_HEADING = re.compile(r"^#{1,6} ")


def _body(description: str) -> str:
    """A description without its title line (the brief shows the title), headings demoted below the brief's."""
    lines = description.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(_HEADING.sub("#### ", line) for line in lines).strip()


def _cut(text: str, max_chars: int) -> str:
    """The head of ``text`` within ``max_chars``, cut at a paragraph end where one is near."""
    if len(text) <= max_chars:
        return text
    marker = "\n[...]"
    head = text[: max(max_chars - len(marker) - 4, 0)]
    paragraph_end = head.rfind("\n\n")
    cut = paragraph_end if paragraph_end >= len(head) // 2 else head.rfind("\n")
    kept = head[:cut] if cut > 0 else head
    if not any(line.strip() and not line.startswith("#") for line in kept.splitlines()):
        kept = head[: head.rfind(" ")] if " " in head else head  # a line cut at a word beats headings alone
    head = kept
    if sum(line.lstrip().startswith("```") for line in head.splitlines()) % 2:
        head += "\n```"  # close a code block the cut left open
    return head.rstrip() + marker


def excerpt(description: str, max_chars: int) -> str:
    """The head of a task description within ``max_chars``, cut at a paragraph end where one is
    near; its title line is dropped (the brief shows the title) and headings are demoted."""
    return _cut(_body(description), max_chars)


def _shares(lengths: Sequence[int], budget: int, cap: int) -> list[int]:
    """Split ``budget`` characters between texts of ``lengths``: short texts get all they need,
    the rest an equal share (at most ``cap`` each)."""
    shares = [0] * len(lengths)
    left, waiting = budget, sorted(range(len(lengths)), key=lambda i: lengths[i])
    for position, index in enumerate(waiting):
        share = min(lengths[index], cap, max(left, 0) // (len(waiting) - position))
        shares[index], left = share, left - share
    return shares


def file_tree(files: Sequence[str], max_chars: int = MAX_TREE_CHARS) -> str:
    """Workspace files, one folder per line (``tasks/digits/: config.json solution.py``), within ``max_chars``."""
    folders: dict[str, list[str]] = defaultdict(list)
    for path in files:
        pure = PurePosixPath(path)
        folders[str(pure.parent)].append(pure.name)
    lines = [f"{'.' if folder == '.' else folder}/: {' '.join(names)}" for folder, names in sorted(folders.items())]
    text = "\n".join(lines)
    if len(text) <= max_chars:
        return text
    marker = '\n[... more files; {"op": "read", "path": FOLDER} lists a folder]'
    return _cut(text, max_chars - len(marker)).removesuffix("\n[...]") + marker


def brief(tasks: Sequence[Task], files: Sequence[str], max_chars: int) -> str:
    """What a policy needs to start: the goal, each task (metric, direction, baseline, reference,
    description excerpt), the workspace's files and the action protocol, within ``max_chars``
    (the description excerpts shrink to fit)."""
    goal = [
        "## Goal",
        "Improve the agent system in the workspace (task solutions in tasks/<id>/, shared code in lib/, "
        "weights/, and your own harness/) so that the suite loss falls. A task's loss is 1 at its starter "
        "(baseline), 0 at its reference, 2 when its solution is invalid; the suite loss is their weighted "
        "mean, and the reward is its decrease at each evaluation.",
        "",
        "## Tasks",
    ]
    headers = [
        f"### {task.id}: {task.spec.title or task.id} [{task.spec.category}]\n"
        f"{metric_label(task)}; baseline {_fmt(task.spec.baseline)}, reference {_fmt(task.spec.reference)}; "
        f"full text: {description_path(task)}"
        for task in tasks
    ]
    rest = ["", "## Workspace files", file_tree(files), "", protocol_text()]
    fixed = len("\n".join(goal + headers + rest)) + 2 * len(tasks)
    bodies = [sanitize(_body(task.description())) for task in tasks]  # measured as they will be shown
    shares = _shares([len(body) for body in bodies], max_chars - fixed, MAX_EXCERPT_CHARS)
    sections = []
    for header, body, share in zip(headers, bodies, shares):
        text = _cut(body, share) if share > MIN_EXCERPT_CHARS else ""
        sections.append(f"{header}\n{text}" if text else header)
    return "\n".join(goal + ["\n\n".join(sections)] + rest)


def render(
    header: Header,
    tasks: Sequence[Task],
    result: SuiteResult,
    previous: dict[str, float] | None,
    ops: Sequence[OpResult],
    memory_head: str,
    notes: Sequence[str] = (),
    max_chars: int = 16_000,
    files: Sequence[str] | None = None,
) -> str:
    """Render the observation text and fit it into ``max_chars`` (op outputs are cut first).

    With ``files`` (the workspace's files, given at reset) the text starts with the :func:`brief`;
    later observations stay short and say where the task descriptions are.
    """
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
        "| task | category | metric | value | loss | change |",
        "|---|---|---|---|---|---|",
    ]
    for task in tasks:
        task_result = result.results[task.id]
        change = "" if previous is None else f"{task_result.public_loss - previous.get(task.id, task_result.public_loss):+.4f}"
        score = _fmt(task_result.grade.public) if task_result.grade.valid else "invalid"
        lines.append(f"| {task.id} | {task.spec.category} | {metric_label(task)} | {score} | "
                     f"{task_result.public_loss:.4f} | {change} |")
    lines += ["", f"**suite loss: {result.loss:.4f}**", ""]
    problems = [r for r in result.results.values() if not r.grade.valid]
    if problems:
        lines.append("## Errors")
        for task_result in problems:
            # fenced, so that text a solution printed cannot pass for the env's own tables
            error = task_result.grade.error.strip()[:ERROR_SHOWN_CHARS].replace("`", "'")
            lines += [f"- {task_result.task_id}:", "```", error, "```"]
        lines.append("")
    lines += list(notes)
    if files is None:
        example = f'{{"op": "read", "path": "{description_path(tasks[0])}"}}'
        lines += [f"Task descriptions: tasks/<id>/{DESCRIPTION}, e.g. {example}.", ""]
    if ops:
        lines.append("## This step")
        for op in ops:
            status = "ok" if op.ok else f"ERROR: {op.error}"
            lines.append(f"- {op.op}{' ' + op.path if op.path else ''}: {status}")
    tail = ["", "## harness/memory.md (head)", memory_head]
    if files is not None:
        room = max_chars - len("\n".join(lines + tail)) - 3
        lines[3:3] = [brief(tasks, files, room), ""]
    text = "\n".join(lines + tail)
    outputs = [f"\n### output of {op.op} {op.path or ''}\n```\n{op.output}\n```" for op in ops if op.output]
    room = max_chars - len(text) - 50
    body = "".join(outputs)
    if len(body) > room:
        body = body[: max(room, 0)] + "\n[... output cut ...]"
    return sanitize(("\n".join(lines) + body + "\n".join(tail))[:max_chars])
