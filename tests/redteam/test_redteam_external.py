"""External-agent mode against an agent with a shell (issue 14, measured attack 5).

The agent edits the run's files with its own tools and calls ``rsigym evaluate`` / ``submit``.
Each attack is played twice where it applies: on the files of the run as the old workflow
left them reachable (the agent's shell was the operator's own), where the trusted side must
still refuse what was tampered with; and from inside ``rsigym shell``, where the run's
trusted state must not even be in view. Every evaluation after tampering runs in a fresh
process, as an agent's ``rsigym evaluate`` does, so no in-memory state hides the attack.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rsigym.sandbox.local import confinement_available

ATTACKS = Path(__file__).with_name("solutions")
# A wine solution that submits what it finds in labels.csv next to it (the private labels,
# if a link to them is followed when the evaluation copies the workspace).
LABEL_COPIER = """\
import os
import pandas as pd

labels = pd.read_csv("labels.csv")
labels[["id", "target"]].to_csv(os.path.join(os.environ["RSI_OUTPUT_DIR"], "submission.csv"), index=False)
"""


def rsigym(*argv: str | Path, agent_input: str | None = None) -> subprocess.CompletedProcess:
    """``rsigym ARGV`` in a fresh process, as an agent (or its operator) types it."""
    return subprocess.run([sys.executable, "-m", "rsigym.cli", *map(str, argv)], capture_output=True, text=True,
                          input=agent_input, timeout=900)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def init(tmp_path: Path, iterations: int = 5) -> Path:
    run = tmp_path / "run"
    done = rsigym("workspace", "init", run, "--tasks", "wine", "--iterations", str(iterations))
    assert done.returncode == 0, done.stderr
    return run


needs_confinement = pytest.mark.skipif(not confinement_available(), reason="rsigym shell needs root and unshare")


# -- attack 5b: a symlink from the workspace to the private labels ------------------------------
def test_a_link_to_the_private_labels_is_refused_never_followed(tmp_path):
    run = init(tmp_path)
    solution = run / "workspace/tasks/wine"
    starter = (solution / "solution.py").read_text()
    (solution / "labels.csv").symlink_to(run / "private/wine/labels.csv")
    (solution / "solution.py").write_text(LABEL_COPIER)

    done = rsigym("evaluate", run)
    assert done.returncode == 0, done.stderr
    last = records(run)[-1]
    starter_loss = records(run)[0]["loss"]
    assert last["losses"]["wine"] == 2.0 and last["reward"] == pytest.approx(starter_loss - 2.0)  # old code: loss -0.07
    assert "tasks/wine/labels.csv is a symbolic link" in done.stdout

    # The link is in the iteration's commit: resuming the run scores it the same way, no crash.
    again = rsigym("evaluate", run)
    assert again.returncode == 0, again.stderr
    assert records(run)[-1]["losses"]["wine"] == 2.0 and records(run)[-1]["reward"] == 0.0

    (solution / "labels.csv").unlink()
    (solution / "solution.py").write_text(starter)
    fixed = rsigym("evaluate", run)
    assert fixed.returncode == 0, fixed.stderr
    assert records(run)[-1]["loss"] == pytest.approx(starter_loss)
    assert records(run)[-1]["reward"] == pytest.approx(2.0 - starter_loss)


def test_a_linked_folder_in_lib_is_refused_too(tmp_path):
    run = init(tmp_path)
    (run / "workspace/lib/private").symlink_to(run / "private/wine", target_is_directory=True)
    done = rsigym("evaluate", run)
    assert done.returncode == 0, done.stderr
    assert records(run)[-1]["losses"]["wine"] == 2.0 and "lib/private is a symbolic link" in done.stdout


# -- attack 5c: grade files edited to -1 ---------------------------------------------------------
def test_edited_grade_files_are_graded_again_not_served(tmp_path):
    run = init(tmp_path)
    honest = records(run)[0]["loss"]
    grades = list((run / "grades").glob("*.json"))
    assert grades
    for path in grades:  # the loss fields, wherever the file keeps them
        path.write_text(re.sub(r'((?:public|private)_loss\\?"\s*:\s*)[-+0-9.eE]+', r"\g<1>-1.0", path.read_text()))
    assert all("-1.0" in path.read_text() for path in grades)

    done = rsigym("evaluate", run)
    assert done.returncode == 0, done.stderr
    last = records(run)[-1]
    assert last["loss"] == pytest.approx(honest) and last["reward"] == 0.0  # the old code served -1
    submitted = rsigym("submit", run)
    assert submitted.returncode == 0, submitted.stderr
    assert records(run)[-1]["private_loss"] > 0.0


def test_a_grade_file_written_by_hand_is_not_served(tmp_path):
    run = init(tmp_path)
    honest = records(run)[0]["loss"]
    for path in (run / "grades").glob("*.json"):  # an unsigned file in the old format
        signed = json.loads(path.read_text())
        entry = json.loads(signed["entry"])
        for field in ("public_loss", "private_loss"):
            if "result" in entry:
                entry["result"][field] = -1.0
            else:
                for read in entry["reads"]:
                    read[2]["result"][field] = -1.0
        path.write_text(json.dumps(entry))
    done = rsigym("evaluate", run)
    assert done.returncode == 0, done.stderr
    assert records(run)[-1]["loss"] == pytest.approx(honest)


# -- attack 5d: the budget raised in env.json ----------------------------------------------------
def test_the_budget_comes_from_trusted_state_not_env_json(tmp_path):
    run = init(tmp_path, iterations=2)
    settings = json.loads((run / "env.json").read_text())
    settings["kwargs"]["iterations"] = 50
    (run / "env.json").write_text(json.dumps(settings))

    first = rsigym("evaluate", run)
    assert first.returncode == 0, first.stderr
    assert "iterations left: 1" in first.stdout  # the old code: 49
    second = rsigym("evaluate", run)
    assert "private loss:" in second.stdout and records(run)[-1]["truncated"]
    assert rsigym("evaluate", run).returncode == 1  # the episode is over
    assert len(records(run)) == 3
