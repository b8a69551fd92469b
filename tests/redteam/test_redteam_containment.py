"""A sandboxed solution cannot reach the network or the Docker engine, outlive its run,
exhaust processes or disk, kill the evaluator, or turn a timeout into a success."""
from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import pytest

from rsigym.sandbox import Limits
from tests.redteam.arena import expect_gap, kill_all, tagged_processes

DOCKER_SOCKET = Path("/var/run/docker.sock")


def _sleep_tag() -> str:
    """A ``sleep`` duration unique to one case, so its processes can be found by command line."""
    return f"{random.randint(40, 80)}.{random.randint(10**8, 10**9 - 1)}"


def _host_addresses() -> list[str]:
    addresses = {"127.0.0.1"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # picks the outgoing interface; sends nothing
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(addresses)


def test_no_network_even_to_the_evaluators_host(request, sandboxed_arena):
    expect_gap(request, sandboxed_arena.sandbox, {"no_network"}, "`unshare --net` is not permitted here")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        outcome = sandboxed_arena.play("network", listeners=[[host, port] for host in _host_addresses()])
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert "PROBE connect 127.0.0.1" in outcome.report
    outcome.assert_clean()
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


@pytest.mark.skipif(not DOCKER_SOCKET.exists(), reason="no Docker engine socket on this host")
def test_the_docker_engine_socket_is_out_of_reach(request, sandboxed_arena):
    if os.access(DOCKER_SOCKET, os.R_OK | os.W_OK):
        expect_gap(request, sandboxed_arena.sandbox, {"confinement", "private_data_hidden"}, "the host's sockets are on its file system")
    outcome = sandboxed_arena.play("docker_socket", socket=str(DOCKER_SOCKET))
    outcome.assert_clean()
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_fork_bomb_is_capped_and_cleaned_up(request, sandboxed_arena):
    expect_gap(request, sandboxed_arena.sandbox, {"process_limit"}, "the process rlimit does not bind root")
    tag, cap = _sleep_tag(), Limits().processes
    try:
        outcome = sandboxed_arena.play("fork_bomb", attempts=cap + 150, sleep_tag=tag)
        started = int(outcome.report.split("STARTED ")[1].split()[0])
        assert "refused after" in outcome.report and started < cap
        assert tagged_processes(tag) == []
    finally:
        kill_all(tagged_processes(tag))
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_no_process_outlives_its_run(request, sandboxed_arena):
    expect_gap(request, sandboxed_arena.sandbox, {"background_processes"}, "a new session escapes the process-group kill")
    tag = _sleep_tag()
    try:
        outcome = sandboxed_arena.play("daemon", sleep_tag=tag)
        assert "DAEMON started" in outcome.report
        assert tagged_processes(tag) == []
    finally:
        kill_all(tagged_processes(tag))
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_disk_fill_is_capped_per_file_and_leaves_nothing_behind(request, sandboxed_arena):
    expect_gap(request, sandboxed_arena.sandbox, {"confinement"}, "/tmp is the host's own")
    marker = f"rsigym-redteam-{random.getrandbits(64):x}"
    leftovers = [Path("/tmp") / marker]
    try:
        outcome = sandboxed_arena.play("disk_fill", chunks=16, marker=marker, beyond=Limits().file_size_bytes + 1)
        assert "File too large" in outcome.report, outcome.report
        scratch = Path(outcome.report.split("SCRATCH ")[1].split()[0])
        leftovers.append(scratch.parent / marker)
        assert not scratch.exists()  # the scratch copy, 64 MiB of chunks included, is gone
        assert not any(path.exists() for path in leftovers)
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_a_solution_cannot_kill_the_evaluator(sandboxed_arena):
    if getattr(sandboxed_arena.sandbox, "mode", None) == "process":
        pytest.xfail("process mode runs as the evaluator's user and can signal it (documented gap 'confinement'); not run")
    outcome = sandboxed_arena.play("kill_evaluator")
    assert "PROBE kill 1" in outcome.report
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_a_timeout_is_never_a_success(sandboxed_arena, monkeypatch):
    digits = next(task for task in sandboxed_arena.unwrapped.tasks if task.id == "digits")
    monkeypatch.setattr(digits, "timeout", lambda scale: 6.0)
    outcome = sandboxed_arena.play("timeout_with_artefact", extra=("honest_knn.py",))
    assert "SUBMITTED" in outcome.report  # a good artefact was there when time ran out
    assert "timeout" in outcome.error
    outcome.assert_no_gain()
    monkeypatch.undo()
    sandboxed_arena.assert_env_holds()
