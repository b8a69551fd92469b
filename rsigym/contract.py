"""The public task contract: grade one solution in a fresh workspace (:func:`score_solution`)
and check that a task keeps the contract (:func:`check_task`, the task conformance suite, as
PettingZoo ships ``api_test``). Calibration, benchmarks, tests and the leak audit all grade
through :func:`score_solution`; docs/design.md describes the contract.

It sits above the grading code (``rsigym.evaluation``) and the leak audit, which both build on
``rsigym.tasks``; nothing below imports this module.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, Sequence

from rsigym.evaluation import score_solution
from rsigym.loss import INVALID_LOSS
from rsigym.sandbox import Sandbox
from rsigym.leak_audit import audit_leaks
from rsigym.tasks import Task, TaskSpecError

__all__ = ["score_solution", "check_task", "TaskCheckError", "TASK_CHECKS", "malformed_solutions"]

class TaskCheckError(AssertionError):
    """A task that fails :func:`check_task`; the message lists every failed check."""


TASK_CHECKS = ("spec", "determinism", "starter", "reference", "validation", "leaks")

# Appended to the starter's entry file by the "validation" check: when the run's process ends,
# every artefact it wrote is overwritten with bytes that no artefact format accepts.
_CORRUPT_OUTPUTS_AT_EXIT = """

def _rsigym_check_task_corrupt_outputs():  # appended by rsigym.contract.check_task
    import os, pathlib
    for path in pathlib.Path(os.environ["RSI_OUTPUT_DIR"]).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.write_bytes(b"\\x00\\xff not an artefact\\n")


__import__("atexit").register(_rsigym_check_task_corrupt_outputs)
"""


def malformed_solutions(task: Task) -> dict[str, dict[str, str]]:
    """The solutions the ``validation`` check of :func:`check_task` grades, by name: each
    produces malformed or missing artefacts and must be graded invalid (loss 2) with an error
    that says why."""
    entry = task.starter_dir / task.entry
    starter = entry.read_text() if entry.is_file() else ""
    return {
        "no artefacts": {task.entry: "# check_task: a solution that writes nothing\n"},
        "corrupted artefacts": {task.entry: starter + _CORRUPT_OUTPUTS_AT_EXIT},
    }


def _validation_failures(task: Task, seed: int, scale: str, sandbox: Sandbox | None) -> list[str]:
    failures = []
    for name, files in malformed_solutions(task).items():
        try:
            result = score_solution(task, files, seed, scale, sandbox)
        except Exception as err:  # noqa: BLE001 - the check reports it instead of stopping
            failures.append(f"grading a solution with {name} raised {type(err).__name__}: {err}")
            continue
        error = result.grade.error.strip()
        if result.grade.valid or (result.public_loss, result.private_loss) != (INVALID_LOSS, INVALID_LOSS):
            failures.append(f"a solution with {name} was graded valid (private loss {result.private_loss:.4f})")
        elif not error:
            failures.append(f"a solution with {name} was graded invalid without an error message")
        elif error.startswith("grading failed:"):
            failures.append(f"the grader crashed on a solution with {name} instead of rejecting it: {error[:300]}")
    return failures


def check_task(
    task: Task,
    seed: int = 0,
    scale: str = "ci",
    sandbox: Sandbox | None = None,
    checks: Sequence[str] = TASK_CHECKS,
) -> dict[str, Any]:
    """The task contract, as a conformance suite any task gets for free (in the way
    PettingZoo's ``api_test`` checks an environment). ``checks`` picks from:

    - ``spec``: the spec validates, and the task has a description and a starter entry file;
    - ``determinism``: the same seed builds the same instance, public and private files alike;
    - ``starter``: the starter runs and is graded valid;
    - ``reference``: the solution in ``reference/`` (if any) has a lower private loss than the starter;
    - ``validation``: each of :func:`malformed_solutions` (no artefacts; the starter's artefacts
      corrupted) is graded invalid with loss 2 and a clear error: never a score, never a
      grader crash;
    - ``leaks``: the lookup attacker of :mod:`rsigym.leak_audit` does not beat the starter on
      the private split (and finds no hidden document).

    Returns the figures measured; raises :class:`TaskCheckError` listing every failure."""
    unknown = set(checks) - set(TASK_CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; known: {TASK_CHECKS}")
    failures: list[str] = []
    report: dict[str, Any] = {}
    if "spec" in checks:
        try:
            task.spec.validate(task.id)
        except TaskSpecError as err:
            failures.append(str(err))
        if not task.description().strip():
            failures.append("no description")
        if not (task.starter_dir / task.entry).is_file():
            failures.append(f"the starter has no {task.entry}")
    if "determinism" in checks:
        with tempfile.TemporaryDirectory(prefix=f"rsigym-check-{task.id}-") as tmp:
            first, again = Path(tmp) / "first", Path(tmp) / "again"
            for root in (first, again):
                task.prepare(seed, scale, root / "data", root / "private")
            if _tree_digest(first) != _tree_digest(again):
                failures.append(f"seed {seed} built two different instances")
    starter = None
    if {"starter", "reference"} & set(checks):
        starter = score_solution(task, None, seed, scale, sandbox)
        report["starter_private_loss"] = starter.private_loss
        if not starter.grade.valid:
            failures.append(f"the starter is not valid: {starter.grade.error}")
    reference = task.folder / "reference"
    if "reference" in checks and reference.is_dir() and starter is not None:
        result = score_solution(task, reference, seed, scale, sandbox)
        report["reference_private_loss"] = result.private_loss
        if not (result.grade.valid and result.private_loss < starter.private_loss):
            failures.append(f"the reference (private loss {result.private_loss:.4f}) does not beat the starter "
                            f"({starter.private_loss:.4f}): {result.grade.error}")
    if "validation" in checks:
        failures += _validation_failures(task, seed, scale, sandbox)
    if "leaks" in checks:

        audit = audit_leaks(task, seed, scale, sandbox, starter)
        report["leak_audit"] = audit._asdict()
        failures += [f"leak: {finding}" for finding in audit.findings]
    if failures:
        raise TaskCheckError(f"{task.id}: " + "; ".join(failures))
    return report


def _tree_digest(root: Path) -> dict[str, str]:
    """Content hashes of every file under ``root``, by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*")) if path.is_file()
    }
