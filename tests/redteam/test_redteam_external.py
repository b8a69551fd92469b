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
import sklearn.datasets

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
    done = rsigym("workspace", "init", run, "--suite", "toy", "--tasks", "wine", "--iterations", str(iterations))
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

    memory = run / "workspace" / "harness" / "memory.md"
    memory.write_text("edit 1\n")  # an iteration is an evaluation of a changed workspace
    first = rsigym("evaluate", run)
    assert first.returncode == 0, first.stderr
    assert "iterations left: 1" in first.stdout  # the old code: 49
    memory.write_text("edit 2\n")
    second = rsigym("evaluate", run)
    assert "private loss:" in second.stdout and records(run)[-1]["truncated"]
    assert rsigym("evaluate", run).returncode == 1  # the episode is over
    assert len(records(run)) == 3


# -- attack 5a, and 5b-5d from inside the agent's shell -----------------------------------------
def _protected(run: Path) -> dict[str, str]:
    """Fingerprints of the run's trusted state, the readable settings copy and the log."""
    from tests.redteam.arena import fingerprint

    return {name: json.dumps(fingerprint(run / name), sort_keys=True)
            for name in ("private", "grades", "trusted", "env.json", "log.jsonl", "history.git")}


@needs_confinement
def test_the_agent_shell_cannot_reach_the_runs_trusted_state(tmp_path):
    run = init(tmp_path)
    targets = {
        "private_labels": str(run / "private/wine/labels.csv"), "key": str(run / "trusted/grades.key"),
        "grades": str(run / "grades"), "env_json": str(run / "env.json"),
        "trusted_settings": str(run / "trusted/env.json"), "log": str(run / "log.jsonl"),
        "history": str(run / "history.git"),
        "bundled_dataset": str(Path(sklearn.datasets.__file__).parent / "data" / "wine_data.csv"),
    }
    attacker = (ATTACKS / "agent_shell.py").read_text()
    before = _protected(run)

    inside = rsigym("shell", run, "--", "python3", "-", json.dumps(targets), agent_input=attacker)
    assert inside.returncode == 0, inside.stderr
    assert "RESULT leaks=[]" in inside.stdout, inside.stdout
    assert _protected(run) == before

    # The control: the same attacks from a shell outside the sandbox (the old workflow) work.
    outside = subprocess.run([sys.executable, "-", json.dumps(targets)], input=attacker, capture_output=True, text=True)
    for attack in ("read private labels", "read the grade key", "write a grade file", "write env.json",
                   "find labels.csv by walking /", "read a bundled dataset"):
        assert f"GOT {attack}" in outside.stdout


@needs_confinement
def test_a_link_made_in_the_agent_shell_is_refused(tmp_path):
    run = init(tmp_path)
    script = (f"ln -s {run}/private/wine/labels.csv tasks/wine/labels.csv && cat > tasks/wine/solution.py && "
              "rsigym evaluate")
    done = rsigym("shell", run, "--", "sh", "-c", script, agent_input=LABEL_COPIER)
    assert done.returncode == 0, done.stderr
    assert "tasks/wine/labels.csv is a symbolic link" in done.stdout
    assert records(run)[-1]["losses"]["wine"] == 2.0
    assert records(run)[-1]["reward"] == pytest.approx(records(run)[0]["loss"] - 2.0)
    assert (run / "workspace/tasks/wine/labels.csv").is_symlink()  # taken as a link, for the commit


@needs_confinement
def test_the_grading_socket_serves_only_the_agents_uid(tmp_path):
    import socket

    from rsigym.agentshell import GradingServer
    from rsigym.safecopy import Mirror

    run = init(tmp_path)
    server = GradingServer(tmp_path / "rsigym.sock", run, Mirror(run / "workspace", tmp_path / "copy"), uid=12345)
    server.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:  # root, not uid 12345
            connection.connect(str(tmp_path / "rsigym.sock"))
            connection.sendall(b'{"command": "evaluate"}\n')
            reply = json.loads(connection.makefile().readline())
    finally:
        server.stop()
    assert reply["rc"] == 1 and "refused" in reply["stderr"]
    assert len(records(run)) == 1  # nothing was evaluated
