"""Grader isolation through the real evaluation path (``run_task``): a solution that hunts for
private labels, the grader's files and the caller's environment gets nothing, and cannot make
the trusted grader read them for it through a symlink."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from rsigym.evaluation import run_task
from rsigym.sandbox import ExecResult, Sandbox
from rsigym.tasks import Grade, RunContext, Task, TaskSpec

PROBE = """
import glob, os
found = []
def grab(path):
    try:
        with open(path, "rb") as stream:
            found.append(f"{path}: {stream.read(1 << 16)!r}")
    except OSError as err:
        found.append(f"{path}: refused {type(err).__name__}")
data = os.environ["RSI_DATA_DIR"]
guesses = ["../private/labels.csv", "../../private/probe/labels.csv"]
guesses.append(data.replace("/data/", "/private/") + "/labels.csv")
processes = [f"/proc/{os.getppid()}/environ", *glob.glob("/proc/*/environ"), *glob.glob("/proc/*/cmdline")]
for path in [*guesses, PRIVATE, GRADER, *processes]:
    grab(path)
found.append(repr(dict(os.environ)))
out = os.environ["RSI_OUTPUT_DIR"]
open(out + "/found.txt", "w").write("\\n".join(found))
os.symlink(PRIVATE, out + "/predictions.csv")  # have the trusted grader read the labels instead
"""


class ProbeTask(Task):
    """Private labels hold a secret; the grade reports what the solution found and left."""

    def __init__(self, folder: Path, secret: str):
        spec = TaskSpec(id="probe", category="mle", metric="accuracy", direction="max", human_minutes=10,
                        baseline=0.0, reference=1.0, timeout={"ci": 120.0})
        super().__init__(folder, spec)
        self.secret = secret

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        data_dir.mkdir(parents=True)
        (data_dir / "train.csv").write_text("x,y\n1,0\n")
        private_dir.mkdir(parents=True)
        (private_dir / "labels.csv").write_text(f"y\n{self.secret}\n")

    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        predictions = ctx.output_dir / "predictions.csv"
        details = {
            "found": (ctx.output_dir / "found.txt").read_text(),
            "predictions": predictions.read_text() if predictions.exists() else None,
        }
        return Grade(True, public=1.0, private=1.0, details=details)


@pytest.fixture
def probe_run(tmp_path: Path, monkeypatch):
    """Run the probe solution through ``run_task`` with ``sandbox``; return its grade details and the secret."""
    secret = secrets.token_hex(16)
    grader_dir = tmp_path / "taskdef"
    grader_dir.mkdir()
    (grader_dir / "grader.py").write_text(f"SECRET = {secret!r}\n")
    task = ProbeTask(grader_dir, secret)
    run_dir = tmp_path / "run"
    data_dir, private_dir = run_dir / "data" / "probe", run_dir / "private" / "probe"
    task.prepare(0, "ci", data_dir, private_dir)
    (run_dir / "private").chmod(0o700)
    solution = run_dir / "workspace" / "tasks" / "probe" / "solution.py"
    solution.parent.mkdir(parents=True)
    paths = f"PRIVATE = {str(private_dir / 'labels.csv')!r}\nGRADER = {str(grader_dir / 'grader.py')!r}\n"
    solution.write_text(paths + PROBE)
    monkeypatch.setenv("RSIGYM_GRADER_SECRET", secret)

    def run(sandbox: Sandbox) -> tuple[dict, str]:
        result = run_task(task, run_dir / "workspace", data_dir, private_dir, sandbox, seed=0, scale="ci")
        assert result.grade.valid, result
        return result.grade.details, secret

    return run


def test_solution_gets_nothing_private(sandbox: Sandbox, probe_run):
    details, secret = probe_run(sandbox)
    assert "RSI_OUTPUT_DIR" in details["found"], "the probe did not run"
    if "private_data_hidden" in getattr(sandbox, "known_gaps", frozenset()):
        assert secret in details["found"], "process mode is documented to leak; update docs/sandboxes.md"
        return
    assert secret not in details["found"]
    assert details["predictions"] is None, "a symlink out of the scratch dir reached the grader"
