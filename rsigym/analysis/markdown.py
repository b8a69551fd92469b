"""Small formatting helpers for the Markdown and CSV reports."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

MARKER = "<!-- rsigym:generated (text above this line is kept when the file is regenerated) -->"


def number(value: float | None, digits: int = 3) -> str:
    """A short rendering: 3 significant digits, ``—`` for missing, ``∞`` for infinite."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}" if abs(value) >= 10 ** -digits else f"{value:.1e}"


def interval(low: float, high: float) -> str:
    return "—" if math.isnan(low) or math.isnan(high) else f"[{number(low)}, {number(high)}]"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_generated(path: Path, body: str) -> Path:
    """Write ``body`` below the generated-text marker, keeping whatever an author wrote above it.

    An existing file without the marker is all kept: it becomes the hand-written preface.
    """
    kept = ""
    if path.exists():
        text = path.read_text()
        kept = text[: text.index(MARKER)] if MARKER in text else text.rstrip() + "\n\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kept + MARKER + "\n\n" + body.strip() + "\n")
    return path
