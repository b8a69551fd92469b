"""What the attack solutions share; standard library only, so they run in any sandbox image.

An attack reads its targets from ``attack.json`` (the red-team suite writes it next to the
solution: an attacker who knows the run directory's layout and absolute paths) and reports
every attempt on stdout. A success is recorded as a leak (it read what it must not) or an
escape (it changed what it must not). ``finish()`` prints one ``RESULT`` line last, so the
tail of the output the env keeps always holds it, and exits with code 3 (an invalid grade)
unless the attack asks for its artefacts to be graded.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

PARAMS = json.loads(Path(__file__).with_name("attack.json").read_text())
LEAKS: list[str] = []
ESCAPES: list[str] = []


def report(what: str, outcome: object) -> None:
    print(f"PROBE {what}: {outcome}"[:200], flush=True)


def peek(path: str | os.PathLike, limit: int = 1 << 20) -> bytes | None:
    """The first ``limit`` bytes of ``path``, or ``None`` when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return None


def leak(what: str) -> None:
    LEAKS.append(what)
    print(f"LEAK {what}", flush=True)


def try_write(path: str | os.PathLike, data: bytes, mode: str = "wb") -> bool:
    """Write ``data`` to ``path`` (``mode`` "wb", "ab" or "r+b"); a success is an escape."""
    try:
        with open(path, mode) as handle:
            handle.write(data)
    except OSError as err:
        report(f"write {path}", f"{type(err).__name__}: {err.strerror}")
        return False
    ESCAPES.append(str(path))
    print(f"ESCAPE wrote {path}", flush=True)
    return True


def output_path(name: str = "submission.csv") -> Path:
    return Path(os.environ["RSI_OUTPUT_DIR"]) / name


def test_ids() -> list[str]:
    """The ids of the public test table, in order."""
    with open(Path(os.environ["RSI_DATA_DIR"]) / "test.csv", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def write_submission(targets: dict[str, str] | str) -> None:
    """``submission.csv`` with one target per test id (a mapping, or one constant for all)."""
    with output_path().open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "target"])
        for row_id in test_ids():
            writer.writerow([row_id, targets if isinstance(targets, str) else targets[row_id]])


def submit_labels(labels_csv: bytes) -> None:
    """Submit the stolen private labels: a perfect score if the grader accepted it."""
    rows = csv.DictReader(labels_csv.decode().splitlines())
    write_submission({row["id"]: row["target"] for row in rows})
    leak("submitted the private labels")
    finish(graded=True)


def finish(graded: bool = False) -> None:
    """Print the result line; exit 0 when the artefacts should be graded, else 3."""
    shown = {name: [item[:80] for item in items[:3]] + ([f"+{len(items) - 3} more"] if len(items) > 3 else [])
             for name, items in (("leaks", LEAKS), ("escapes", ESCAPES))}
    print(f"RESULT leaks={shown['leaks']} escapes={shown['escapes']}", flush=True)
    sys.stdout.flush()
    os._exit(0 if graded else 3)
