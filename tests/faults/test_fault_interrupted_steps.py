"""The env process dies at the worst moments of a step — after the commit but before the log
record, half-way through writing the record, in the middle of a git command — and the run
resumes from its directory with a valid log and consecutive iterations."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rsigym.env import load_run
from tests.conftest import STRONG_DIGITS, write_config


class SimulatedKill(BaseException):
    """Stands for SIGKILL at one exact point: no ``except Exception`` catches it and the step
    never returns. (A real SIGKILL, at a moment no test can choose, is in test_fault_sigkill.)"""


def _start(make_env, tmp_path: Path):
    env = make_env(tasks=["digits"], iterations=4, run_dir=tmp_path / "run")
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "iteration one\n"})
    return env.unwrapped


def _resume_and_finish(run_dir: Path) -> list[dict]:
    """Resume, play to the end, and return the log (every line must be strict JSON)."""
    env, obs, info = load_run(run_dir)
    try:
        assert obs in env.observation_space
        done, steps = False, 0
        while not done:  # each step changes the workspace, so that each evaluation is an iteration
            steps += 1
            note = {"op": "write", "path": "harness/resumed.md", "content": f"resumed step {steps}\n"}
            *_, terminated, truncated, info = env.step([note, {"op": "evaluate"}])
            done = terminated or truncated
    finally:
        env.close()
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(len(records)))
    assert [r["iteration"] for r in records] == list(range(len(records)))  # one evaluation per step, none lost
    assert records[-1]["truncated"] and records[-1]["private_loss"] is not None
    return records


def _committed_config(run_dir: Path, records: list[dict], iteration: int) -> dict:
    shown = subprocess.run(["git", "--git-dir", str(run_dir / "history.git"), "show",
                            f"{records[iteration]['commit']}:tasks/digits/config.json"], capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


def test_killed_between_the_commit_and_the_log_record(make_env, tmp_path, monkeypatch):
    env = _start(make_env, tmp_path)

    def die(record):
        raise SimulatedKill

    monkeypatch.setattr(env.log, "append", die)
    with pytest.raises(SimulatedKill):
        env.step(write_config("digits", STRONG_DIGITS))
    assert len(env.commits) == 3  # iteration 2 was committed, never logged
    records = _resume_and_finish(env.run_dir)
    assert _committed_config(env.run_dir, records, 2) == STRONG_DIGITS  # the edit is re-evaluated as iteration 2
    assert records[2]["losses"]["digits"] < 0.5


def test_killed_half_way_through_a_log_line(make_env, tmp_path, monkeypatch):
    env = _start(make_env, tmp_path)

    def write_half(record):
        line = json.dumps({**record})  # a LogRecord, or the mapping a record hook made
        with env.log.path.open("a") as handle:
            handle.write(line[: len(line) // 2])
        raise SimulatedKill

    monkeypatch.setattr(env.log, "append", write_half)
    with pytest.raises(SimulatedKill):
        env.step(write_config("digits", STRONG_DIGITS))
    assert not env.log.path.read_text().endswith("\n")
    records = _resume_and_finish(env.run_dir)  # the cut line was dropped, every other line kept
    assert len(records) == 5 and _committed_config(env.run_dir, records, 2) == STRONG_DIGITS


def test_killed_inside_a_git_command_leaving_its_lock(make_env, tmp_path, monkeypatch):
    env = _start(make_env, tmp_path)
    history = env.run_dir / "history.git"

    def die_mid_commit(message):
        for lock in ("index.lock", "HEAD.lock"):  # what git leaves when killed while it holds them
            (history / lock).write_text("")
        raise SimulatedKill

    monkeypatch.setattr(env.workspace, "commit", die_mid_commit)
    with pytest.raises(SimulatedKill):
        env.step(write_config("digits", STRONG_DIGITS))
    records = _resume_and_finish(env.run_dir)
    assert not list(history.rglob("*.lock"))
    assert _committed_config(env.run_dir, records, 2) == STRONG_DIGITS
