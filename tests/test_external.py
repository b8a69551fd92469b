"""External-agent mode: workspace init, then evaluate / submit as separate commands on the run folder."""
import argparse
import json
import subprocess
import sys

import pytest

from rsigym.external import register
from rsigym.sandbox.local import confinement_available
from tests.conftest import BROKEN_SOLUTION, STRONG_DIGITS


def rsigym(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rsigym")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_coding_agent_loop_init_edit_evaluate_submit(tmp_path, capsys):
    run = tmp_path / "run"
    assert rsigym("workspace", "init", str(run), "--suite", "toy", "--tasks", "digits", "wine", "--iterations", "3",
                  "--agent", "claude-code", "--model", "test") == 0
    out = capsys.readouterr().out
    assert "public loss:" in out and "| digits |" in out
    brief = (run / "AGENT.md").read_text()
    assert f"rsigym evaluate {run}" in brief and "Digit Recognizer" in brief and "### wine" in brief
    starter_loss = records(run)[0]["loss"]

    # the agent edits files with its own tools, outside the env
    (run / "workspace/tasks/digits/config.json").write_text(json.dumps(STRONG_DIGITS))
    assert rsigym("evaluate", str(run)) == 0
    out = capsys.readouterr().out
    log = records(run)
    assert log[-1]["iteration"] == 1 and log[-1]["evaluated"] and log[-1]["loss"] < starter_loss - 0.1
    assert f"public loss: {log[-1]['loss']:.4f}" in out and "reward: +" in out
    assert log[-1]["agent"] == "claude-code" and log[-1]["private_loss"] is None

    (run / "workspace/tasks/wine/solution.py").write_text(BROKEN_SOLUTION)
    assert rsigym("evaluate", str(run)) == 0
    assert "deliberately broken" in capsys.readouterr().out
    assert records(run)[-1]["losses"]["wine"] == 2.0

    assert rsigym("submit", str(run)) == 0
    out = capsys.readouterr().out
    final = records(run)[-1]
    assert final["terminated"] and final["private_loss"] is not None
    assert f"private loss: {final['private_loss']:.4f}" in out and "wine: 2.0000" in out

    assert rsigym("evaluate", str(run)) == 1  # the episode is over
    assert "is over" in capsys.readouterr().err
    assert len(records(run)) == len(log) + 2


def test_init_refuses_an_existing_run_without_force(tmp_path, capsys):
    run = tmp_path / "run"
    assert rsigym("workspace", "init", str(run), "--suite", "toy", "--tasks", "wine", "--iterations", "2") == 0
    assert rsigym("workspace", "init", str(run), "--suite", "toy", "--tasks", "wine", "--iterations", "2") == 1
    assert "--force" in capsys.readouterr().err
    assert rsigym("workspace", "init", str(run), "--suite", "toy", "--tasks", "wine", "--iterations", "2", "--force") == 0
    assert [r["episode"] for r in records(run)] == [0, 1]


def test_evaluate_needs_a_run_folder(tmp_path, capsys):
    assert rsigym("evaluate", str(tmp_path)) == 2
    assert "workspace init" in capsys.readouterr().err


def _shell(run, *command: str, agent_input: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rsigym.cli", "shell", str(run), "--", *command],
                          input=agent_input, capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(not confinement_available(), reason="rsigym shell needs root and unshare")
def test_an_agent_in_rsigym_shell_edits_evaluates_and_hits_its_budget(tmp_path):
    run = tmp_path / "run"
    assert rsigym("workspace", "init", str(run), "--suite", "toy", "--tasks", "digits", "--iterations", "2") == 0
    script = ("id -u; cat ../AGENT.md | grep -c 'rsigym evaluate'; cat > tasks/digits/config.json; "
              "rsigym evaluate; echo a >> harness/memory.md; rsigym evaluate; echo b >> harness/memory.md; "
              "rsigym evaluate; echo third=$?; "
              "echo pending-note >> harness/memory.md; exit 5")
    done = _shell(run, "sh", "-c", script, agent_input=json.dumps(STRONG_DIGITS))
    assert done.returncode == 5, done.stderr
    uid = int(done.stdout.split()[0])
    assert uid != 0 and "third=1" in done.stdout and "is over" in done.stderr
    log = records(run)
    assert [r["iteration"] for r in log] == [0, 1, 2]
    assert log[1]["loss"] < log[0]["loss"] - 0.1 and log[1]["reward"] == pytest.approx(log[0]["loss"] - log[1]["loss"])
    assert log[2]["truncated"] and log[2]["private_loss"] is not None
    # Edits made after the last evaluation are kept in the run's workspace, pending; the
    # agent's copy is handed back to the run's owner.
    assert (run / "workspace/harness/memory.md").read_text().endswith("pending-note\n")
    assert all(path.stat().st_uid == 0 for path in (run / "shell/workspace").rglob("*"))


def test_rsigym_shell_needs_a_run_folder(tmp_path):
    done = _shell(tmp_path, "true")
    assert done.returncode == 2 and "workspace init" in done.stderr
