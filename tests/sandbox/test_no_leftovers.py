"""No leftovers (issue 16): an env's temporary run folder and the warm worker server's folder
and process go away with the process that made them, with or without ``close()``, in the
main process and in AsyncVectorEnv workers alike.

Each test points ``TMPDIR`` at a folder of its own, so what other jobs on this host make in
``/tmp`` meanwhile cannot be mistaken for a leftover, and the warm servers it started can be
told apart by the socket path on their command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import pytest

import rsigym  # noqa: F401  (registers the env ids)

SMALL_TASK = "wine"
EVALUATE, SUBMIT = json.dumps({"op": "evaluate"}), json.dumps({"op": "submit"})
SETTLE_S = 60.0  # how long processes that lost their client may take to notice and exit


def _descendants(pid: int) -> set[int]:
    """Pids of every live process below ``pid``."""
    try:
        import psutil
    except ImportError:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        found, frontier = set(), {pid}
        while frontier:
            frontier = {child for child, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _processes_mentioning(text: str) -> set[int]:
    """Pids of live processes whose command line holds ``text`` (reparented ones included)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _settled(scratch: Path, children_before: set[int]) -> tuple[list[str], set[int], set[int]]:
    """What is left in ``scratch``, processes naming it, and new children of this process,
    once they are all gone or ``SETTLE_S`` has passed."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        left = sorted(path.name for path in scratch.iterdir())
        naming = _processes_mentioning(str(scratch))
        children = _descendants(os.getpid()) - children_before
        if not (left or naming or children) or time.monotonic() > deadline:
            return left, naming, children
        time.sleep(0.2)


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """This test's own temporary folder, as every ``tempfile`` call (and child) sees it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return folder


# A seed no other test grades: forked workers start with a copy of the parent's process-wide
# grade cache, and a cached reset runs nothing in the sandbox (so starts no warm server).
UNGRADED_SEED = 7919


def test_async_vector_env_episode_leaves_no_folders_or_processes(scratch):
    children_before = _descendants(os.getpid())
    envs = gym.make_vec("RSI-MLE-v0", suite="toy", num_envs=2, vectorization_mode="async", vector_kwargs={"shared_memory": False},
                        tasks=[SMALL_TASK], iterations=2)
    try:
        envs.reset(seed=UNGRADED_SEED)  # forked workers inherit this process's grade cache
        envs.step((EVALUATE, EVALUATE))
        _, _, terminated, _, _ = envs.step((SUBMIT, SUBMIT))
        assert terminated.all()
        made = sorted(path.name.rsplit("-", 1)[0] for path in scratch.iterdir())
        assert made.count("rsigym-run") == 2 and made.count("rsigym-warm") == 2, made  # one of each per worker
    finally:
        envs.close()
    left, naming, children = _settled(scratch, children_before)
    assert left == [], f"left in the temporary folder: {left}"
    assert not naming, f"processes still running: {naming}"
    assert not children, f"child processes still running: {children}"


_WITHOUT_CLOSE = f"""
import json, gymnasium as gym, rsigym
env = gym.make("RSI-MLE-v0", suite="toy", tasks=[{SMALL_TASK!r}], iterations=2)
env.reset(seed=0)
env.step(json.dumps({{"op": "evaluate"}}))
print("stepped", flush=True)
"""


def test_a_process_that_never_calls_close_leaves_nothing(scratch):
    """The script ends without ``close()``: its run folder, the warm server and its folder go."""
    children_before = _descendants(os.getpid())
    done = subprocess.run([sys.executable, "-c", _WITHOUT_CLOSE], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0 and "stepped" in done.stdout, done.stderr[-3000:]
    left, naming, children = _settled(scratch, children_before)
    assert left == [], f"left in the temporary folder: {left}"
    assert not naming and not children, f"processes still running: {naming | children}"


def test_a_collected_env_removes_its_run_folder(scratch):
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=[SMALL_TASK], iterations=2)
    run_dir = env.unwrapped.run_dir
    assert run_dir.is_dir() and run_dir.parent == scratch
    del env
    import gc

    gc.collect()
    assert not run_dir.exists()
