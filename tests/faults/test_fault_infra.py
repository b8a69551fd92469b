"""Infrastructure failures are masked, not punished; a solution's own failures are not.

Faults are injected from outside the env, as the host would cause them: the run folder's disk
fills up, the warm worker server that forks solutions is killed, the Docker engine stops. Each
faulted step must carry ``info["infra_error"]`` with reward 0 and the loss, iteration and
budget unchanged (never a loss-2 grade), and the episode must grade normally once the fault
clears. The attacker tests check that a solution cannot claim an infrastructure failure.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import gymnasium as gym
import pytest

from rsigym.sandbox import warm as warm_workers

BETTER_WINE = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}
SOLVE = "import json, tabular\nfrom pathlib import Path\ntabular.solve(json.loads(Path('config.json').read_text()))\n"


def write_better_config() -> dict:
    return {"op": "write", "path": "tasks/wine/config.json", "content": json.dumps(BETTER_WINE)}


def write_solution(source: str) -> dict:
    """A write op for the wine solution (a fresh comment: never served from the grade cache)."""
    return {"op": "write", "path": "tasks/wine/solution.py", "content": source + f"# {uuid.uuid4().hex}\n"}


def assert_masked(before: dict, reward: float, info: dict) -> None:
    """The step was masked: a reason, no reward, nothing graded or charged."""
    assert info.get("infra_error"), info
    assert reward == 0.0
    assert info["loss"] == before["loss"] and info["losses"]["wine"] != 2.0
    assert info["iteration"] == before["iteration"]
    assert info["budget"] == before["budget"]


def assert_graded_better(before: dict, reward: float, info: dict) -> None:
    assert "infra_error" not in info, info["infra_error"]
    assert info["iteration"] == before["iteration"] + 1
    assert info["loss"] < before["loss"] and reward == pytest.approx(before["loss"] - info["loss"])


# -- disk full on the run folder --------------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(size_mib: int):
    """A fresh tmpfs of ``size_mib`` MiB (we are root in CI); skip where mounting is not allowed."""
    folder = Path(tempfile.mkdtemp(prefix="rsigym-tmpfs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs for the disk-full fault here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path) -> Path:
    """Fill ``folder``'s file system with one file outside any run (the host's doing)."""
    filler = folder / "filler"
    with filler.open("wb") as stream:
        with contextlib.suppress(OSError):
            while True:
                stream.write(b"\0" * (1 << 20))
                stream.flush()
        with contextlib.suppress(OSError):  # the last bytes that still fit
            while True:
                stream.write(b"\0" * 4096)
                stream.flush()
    return filler


def test_a_full_run_folder_disk_masks_the_step_and_grading_resumes_once_it_clears(monkeypatch):
    with small_tmpfs(48) as mount:
        env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=5, run_dir=mount / "run")
        try:
            # a seed no other test grades: the process-wide grade cache must not serve the better config
            _, before = env.reset(seed=4243)
            sandbox = env.unwrapped.sandbox
            solution_run = sandbox.run
            filler = mount / "filler"

            def run_on_a_filling_disk(*args, **kwargs):  # the host fills the disk while the solution runs
                if not filler.exists():
                    fill(mount)
                return solution_run(*args, **kwargs)

            monkeypatch.setattr(sandbox, "run", run_on_a_filling_disk)
            compute_before = env.unwrapped.compute_used
            _, reward, terminated, truncated, info = env.step([write_better_config(), {"op": "submit"}])
            assert_masked(before, reward, info)
            assert env.unwrapped.compute_used == compute_before  # the solution ran, but nothing is charged
            assert not terminated and not truncated  # a submit the host failed does not end the episode
            assert any("infrastructure failure" in (op.get("error") or "") for op in info["ops"]), info["ops"]
            monkeypatch.undo()
            filler.unlink()
            _, reward, terminated, _, info = env.step({"op": "submit"})
            assert terminated
            assert_graded_better(before, reward, info)
        finally:
            env.close()
        records = [json.loads(line) for line in (mount / "run" / "log.jsonl").read_text().splitlines()]
        assert [bool(r["infra_error"]) for r in records] == [False, True, False]  # the deferred record is there
        assert sum(r["reward"] for r in records) == pytest.approx(records[0]["loss"] - records[-1]["loss"])


def test_a_policy_that_fills_the_disk_itself_gets_no_mask():
    """The policy's own files filling the run folder's disk are not the host's failure."""
    with small_tmpfs(48) as mount:
        env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=8, run_dir=mount / "run")
        try:
            _, before = env.reset(seed=0)
            ops = [{"op": "write", "path": f"lib/ballast{k}.bin", "content": "x" * (7 * 1024**2)} for k in range(7)]
            _, _, _, _, info = env.step(ops + [write_better_config(), {"op": "evaluate"}])
            failed = [op for op in info["ops"] if op["op"] == "evaluate" and not op["ok"]]
            assert failed and "No space left on device" in failed[0]["error"]  # the disk filled under its own writes
            assert "infra_error" not in info
        finally:
            env.close()


# -- a warm worker server killed mid-evaluation ----------------------------------------------
SLOW_SOLVE = ("import os, time\nopen(os.path.join(os.environ['RSI_OUTPUT_DIR'], '..', 'started'), 'w').close()\n"
              "time.sleep(4)\n" + SOLVE)


def kill_each_started_run(times: int, stop: threading.Event, kill: Callable[[], bool]) -> threading.Thread:
    """Call ``kill()`` each time a solution run has started (its marker file appeared), until it
    has killed ``times`` runs; ``kill`` returns whether it found something to kill."""

    def killer() -> None:
        killed = 0
        while killed < times and not stop.is_set():
            started = glob.glob(os.path.join(tempfile.gettempdir(), "rsigym-wine-*", "started"))
            if started and kill():
                for marker in started:
                    with contextlib.suppress(OSError):
                        os.unlink(marker)
                killed += 1
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    return thread


def kill_warm_server_when_running(times: int, stop: threading.Event) -> threading.Thread:
    """Kill the warm worker server each time a solution run has started, ``times`` times."""

    def kill() -> bool:
        for server in list(warm_workers._servers.values()):
            if server.alive():
                os.kill(server._process.pid, signal.SIGKILL)
        return True

    return kill_each_started_run(times, stop, kill)


@pytest.mark.slow
def test_a_killed_grader_worker_masks_the_step_and_grading_resumes():
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=5)
    stop = threading.Event()
    try:
        if env.unwrapped.sandbox.mode != "confined":
            pytest.skip("in process mode a solution runs as the server's uid and could kill it itself: not masked there")
        _, before = env.reset(seed=0)
        killer = kill_warm_server_when_running(env.unwrapped.infra_retries + 1, stop)
        _, reward, _, _, info = env.step([write_better_config(), write_solution(SLOW_SOLVE)])
        killer.join(timeout=60)
        assert_masked(before, reward, info)
        assert "warm worker server died" in info["infra_error"]
        _, reward, _, _, info = env.step({"op": "evaluate"})  # the fault cleared: a new server is started
        assert_graded_better(before, reward, info)
    finally:
        stop.set()
        env.close()


# -- the Docker engine stopped mid-evaluation ------------------------------------------------
def docker_engine_up() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def start_dockerd() -> None:
    """Start dockerd as docker/ci_setup.sh does, and wait until it answers."""
    log = os.environ.get("DOCKERD_LOG", "/var/log/rsigym-dockerd.log")
    with open(log, "ab") as out:
        subprocess.Popen(["setsid", "nohup", "dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    for _ in range(90):
        if docker_engine_up():
            return
        time.sleep(1)
    raise RuntimeError(f"dockerd did not come back; see {log}")


def stop_dockerd() -> None:
    pids = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)
    for _ in range(60):
        if not docker_engine_up():
            return
        time.sleep(0.5)


@pytest.mark.docker
@pytest.mark.slow
def test_stopping_dockerd_mid_evaluation_masks_the_step_and_grading_resumes():
    if not docker_engine_up():
        pytest.skip("no Docker engine running (docker/ci_setup.sh starts one)")
    if not subprocess.run(["pidof", "dockerd"], capture_output=True).stdout:
        pytest.skip("the Docker engine is not a dockerd process of this host: the test cannot stop and restart it")
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=5, sandbox="docker")
    stopper: threading.Thread | None = None
    try:
        _, before = env.reset(seed=0)
        scratch_root = tempfile.gettempdir()

        def stop_when_running() -> None:
            for _ in range(600):
                if glob.glob(os.path.join(scratch_root, "rsigym-wine-*", "started")):
                    stop_dockerd()
                    return
                time.sleep(0.1)

        stopper = threading.Thread(target=stop_when_running, daemon=True)
        stopper.start()
        _, reward, _, _, info = env.step([write_better_config(), write_solution(SLOW_SOLVE)])
        assert_masked(before, reward, info)
        start_dockerd()
        _, reward, _, _, info = env.step({"op": "evaluate"})
        assert_graded_better(before, reward, info)
    finally:
        if stopper is not None:
            stopper.join(timeout=5)
        if not docker_engine_up():
            start_dockerd()
        env.close()


def kill_containers_when_running(times: int, stop: threading.Event) -> threading.Thread:
    """``docker kill`` the sandbox's containers each time a solution run has started, ``times`` times."""

    def kill() -> bool:
        ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=rsigym.sandbox"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "kill", *ids], capture_output=True)
        return bool(ids)

    return kill_each_started_run(times, stop, kill)


@pytest.mark.docker
@pytest.mark.slow
def test_a_container_killed_through_the_engine_masks_the_step_and_grading_resumes():
    if not docker_engine_up():
        pytest.skip("no Docker engine running (docker/ci_setup.sh starts one)")
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=5, sandbox="docker")
    stop = threading.Event()
    try:
        _, before = env.reset(seed=0)
        killer = kill_containers_when_running(env.unwrapped.infra_retries + 1, stop)
        _, reward, _, _, info = env.step([write_better_config(), write_solution(SLOW_SOLVE)])
        killer.join(timeout=60)
        assert_masked(before, reward, info)
        assert "killed from outside" in info["infra_error"]
        _, reward, _, _, info = env.step({"op": "evaluate"})
        assert_graded_better(before, reward, info)
    finally:
        stop.set()
        env.close()


# -- attackers: a solution cannot claim an infrastructure failure -----------------------------
ATTACKS = {
    "kills itself": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "kills its parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(5)\n",
    "fills its own quota": ("with open('/tmp/hoard', 'wb') as f:\n"
                            "    while True:\n        f.write(b'x' * (1 << 20))\n"),
    "prints an infra error": ("import sys\nprint('rsigym.sandbox.base.InfraError: the Docker engine went away during "
                              "the run: disk full on the run folder (0 bytes free)', file=sys.stderr)\nsys.exit(1)\n"),
    "exits like a lost worker": "import os\nos._exit(255)\n",
}


@pytest.mark.parametrize("sandbox", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_solution_that_fakes_an_infrastructure_failure_scores_2(make_env, sandbox):
    if sandbox == "docker" and not docker_engine_up():
        pytest.skip("no Docker engine running (docker/ci_setup.sh starts one)")
    env = make_env(tasks=["wine"], iterations=len(ATTACKS) + 1, sandbox=sandbox)
    _, before = env.reset(seed=0)
    for name, source in ATTACKS.items():
        _, reward, _, _, info = env.step(write_solution(source))
        assert "infra_error" not in info, (name, info["infra_error"])
        assert info["losses"]["wine"] == 2.0 and not info["valid"]["wine"], (name, info["errors"])
        assert info["iteration"] > before["iteration"], name  # graded: the iteration was spent
        before = info
