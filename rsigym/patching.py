"""Applying a unified diff to one file's text (the ``patch`` op)."""
from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_OFFSET = 200  # lines a hunk may have drifted from the line number its header states


class PatchError(ValueError):
    """A diff that does not apply; the message names the hunk and why."""


def _hunks(diff: str) -> list[tuple[int, list[str]]]:
    hunks: list[tuple[int, list[str]]] = []
    for line in diff.splitlines():
        match = _HUNK.match(line)
        if match:
            hunks.append((int(match.group(1)), []))
        elif hunks and line[:1] in (" ", "-", "+", ""):
            hunks[-1][1].append(line if line else " ")
        elif hunks and line.startswith("\\"):
            continue  # "\ No newline at end of file"
    if not hunks:
        raise PatchError("no hunk found: a unified diff has lines like '@@ -3,2 +3,3 @@'")
    return hunks


def apply_unified_diff(text: str, diff: str) -> str:
    """Return ``text`` with ``diff`` applied; context lines must match exactly (the hunk may drift)."""
    lines = text.splitlines()
    offset = 0
    for number, (start, body) in enumerate(_hunks(diff), 1):
        old = [line[1:] for line in body if line[0] in (" ", "-")]
        new = [line[1:] for line in body if line[0] in (" ", "+")]
        expected = max(start - 1, 0) + offset
        position = _find(lines, old, expected)
        if position is None:
            raise PatchError(f"hunk {number} does not apply: its context lines are not in the file near line {start}")
        lines[position : position + len(old)] = new
        offset += position - expected + len(new) - len(old)
    return "\n".join(lines) + ("\n" if lines else "")


def _find(lines: list[str], block: list[str], expected: int) -> int | None:
    if not block:
        return min(expected, len(lines))
    for delta in range(MAX_OFFSET + 1):
        for position in {expected - delta, expected + delta}:
            if 0 <= position <= len(lines) - len(block) and lines[position : position + len(block)] == block:
                return position
    return None
