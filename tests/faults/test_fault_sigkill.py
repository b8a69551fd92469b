"""SIGKILL of the env process in the middle of an evaluation: the run log stays valid JSONL
and ``rsigym resume RUN`` finishes the episode with no iteration lost or repeated."""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rsigym.cli import main
from rsigym.runlog import RunLog, read_log

DRIVER = Path(__file__).with_name("crashing_run.py")


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every live process."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> None:
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            seen += line
            if text in line:
                return
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"the episode never printed {text!r}:\n{seen}")


def _kill_mid_evaluation(run_dir: Path) -> Path | None:
    """Start the episode, SIGKILL it while its slow solution runs; returns the orphaned scratch copy."""
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(run_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    scratch, orphans = None, []
    try:
        _wait_for_line(proc, "SLOW", timeout=240)
        deadline = time.monotonic() + 120
        while scratch is None and time.monotonic() < deadline:
            for pid in _descendants(proc.pid):  # the solution, cold or forked warm, runs in tasks/digits/
                cwd = _cwd(pid)
                if cwd is not None and cwd.parts[-2:] == ("tasks", "digits"):
                    scratch = cwd.parent.parent
                    break
            time.sleep(0.05)
        assert scratch is not None, "the slow solution never started"
        orphans = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
        for pid in orphans:  # the sandbox processes the dead env left running: ours to stop
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return scratch


def test_sigkill_mid_evaluation_then_resume_loses_no_iteration(tmp_path, capsys):
    run_dir = tmp_path / "killed"
    scratch = _kill_mid_evaluation(run_dir)
    try:
        RunLog(run_dir / "log.jsonl")  # what any writer does first: cut a half-written last line
        lines = (run_dir / "log.jsonl").read_text().splitlines()
        before = [json.loads(line) for line in lines]  # every line is strict JSON
        assert [r["iteration"] for r in before] == [0, 1] and before[-1]["private_loss"] is None

        assert main(["resume", str(run_dir)]) == 0
        assert "resuming" in capsys.readouterr().out
        records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
        assert records == [record.to_json() for record in read_log(run_dir / "log.jsonl")]
        assert [r["step"] for r in records] == [0, 1, 2] and [r["iteration"] for r in records] == [0, 1, 2]
        assert {r["episode"] for r in records} == {0} and records[-1]["private_loss"] is not None
        # The edit whose evaluation was killed is not lost: iteration 2 evaluated and committed it.
        shown = subprocess.run(["git", "--git-dir", str(run_dir / "history.git"), "show",
                                f"{records[-1]['commit']}:tasks/digits/solution.py"], capture_output=True, text=True, check=True)
        assert "slow-solution-marker" in shown.stdout
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)  # a killed env cannot clean its scratch copy
