"""Measured attack 6 (issue 14): nothing leaks between sandboxed runs, or from a run to the
trusted side, through what the kernel shares — the warm runner's status pipe, System V IPC,
kernel keyrings, and the uid a run borrows."""
from __future__ import annotations

import ctypes
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsigym.sandbox import LocalSandbox
from rsigym.sandbox._confine import MAX_REPORT_BYTES, read_report
from tests.redteam.arena import Arena

MiB = 1024**2


def _confined_or_skip() -> LocalSandbox:
    sandbox = LocalSandbox()
    if sandbox.mode != "confined":
        pytest.skip("confined mode needs root and unshare; process mode documents these gaps (ipc_private, keyrings_private)")
    return sandbox


def test_a_warm_run_cannot_flood_the_status_pipe(sandboxed_arena):
    """A warm run used to keep the write end of its status pipe: 64 MiB written into it were
    buffered by the root reader outside every limit of the run (3.25 GiB measured)."""
    outcome = sandboxed_arena.play("status_flood", flood_bytes=64 * MiB)
    assert "PROBE descriptors: scanned" in outcome.report
    outcome.assert_clean()
    outcome.assert_no_gain()
    sandboxed_arena.assert_env_holds()


def test_the_status_reader_stops_at_its_cap():
    """Whatever holds a status pipe, the trusted reader takes at most MAX_REPORT_BYTES from
    it and fails closed: the flooding writer meets a closed pipe long before its 1 GiB."""
    read_end, write_end = os.pipe()
    flood = ("import os, sys\nwritten = 0\ntry:\n    while written < 1 << 30:\n"
             "        written += os.write(int(sys.argv[1]), b'x' * 65536)\nexcept BrokenPipeError:\n    pass\nprint(written)")
    writer = subprocess.Popen([sys.executable, "-c", flood, str(write_end)], pass_fds=(write_end,), stdout=subprocess.PIPE)
    os.close(write_end)
    report = read_report(read_end)
    written = int(writer.communicate(timeout=120)[0])
    assert "error" in report and "status" not in report
    assert written < 4 * MiB  # the pipe's buffer plus the cap: the reader stopped reading


def test_status_report_forgery_fails_closed():
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"status": 0}' + b" " * MAX_REPORT_BYTES)
    os.close(write_end)
    assert "error" in read_report(read_end)


def _sysv_objects(key: int) -> list[str]:
    """Kinds of System V objects under ``key`` in the host's IPC namespace."""
    found = []
    for kind in ("shm", "sem", "msg"):
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        if any(int(row.split()[0]) == key for row in rows):
            found.append(kind)
    return found


def _caller_holds_key(name: str) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return any(libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(keyring), b"user", name.encode(),
                            ctypes.c_long(0)) >= 0 for keyring in (-3, -4))


@pytest.fixture(params=[pytest.param("local", id="local"), pytest.param("docker", id="docker", marks=pytest.mark.docker)])
def ipc_arena(request, make_env) -> Arena:
    """An arena whose local sandbox lends uids nobody else on this host borrows, so the next
    run surely gets the uid of the run before it: the attack's best case."""
    if request.param == "docker":
        sandbox = request.getfixturevalue("docker_sandbox")
    else:
        _confined_or_skip()
        sandbox = LocalSandbox(uid_base=2_000_000_000 + secrets.randbelow(50_000_000))
    return Arena(make_env(iterations=20, sandbox=sandbox))


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the keyring probe uses x86_64 system call numbers")
def test_ipc_and_keyrings_do_not_outlive_a_run(ipc_arena):
    """SysV shared memory (1 GiB stayed resident after close()) and keyring entries used to
    outlive their run and be readable by the next one; now they die with it."""
    key, name = secrets.randbelow(1 << 30) + 1, f"rsigym-redteam-{secrets.token_hex(6)}"
    planted = ipc_arena.play("ipc_plant", ipc_key=key, shm_bytes=64 * MiB, key_name=name)
    try:
        assert "PROBE msgget" in planted.report
        assert _sysv_objects(key) == []
        assert not _caller_holds_key(name)
        found = ipc_arena.play("ipc_find", ipc_key=key, key_name=name)
        found.assert_clean()
        found.assert_no_gain()
    finally:
        subprocess.run(["ipcrm", "-M", str(key), "-S", str(key), "-Q", str(key)], capture_output=True)
    ipc_arena.assert_env_holds()


_HOLD_UID = """
import pathlib, sys
from rsigym.sandbox import LocalSandbox
cwd = pathlib.Path(sys.argv[1])
result = LocalSandbox().run("id -u > uid.txt; while [ ! -e release ]; do sleep 0.05; done", cwd, 300)
print(result.returncode, result.stderr, flush=True)
"""


def test_two_processes_never_lend_the_same_uid_at_once(tmp_path):
    """Two env processes on one host (vector env workers, Ray workers, two trainers) each
    used to lend the first uid of their own pool: both runs shared it, and its NPROC limit."""
    _confined_or_skip()
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holders = []
    try:
        for folder in folders:  # the second starts while the first still holds its uid
            holders.append(subprocess.Popen([sys.executable, "-c", _HOLD_UID, str(folder)], env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            deadline = time.monotonic() + 120
            while not (folder / "uid.txt").exists() and holders[-1].poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (folder / "uid.txt").exists(), holders[-1].communicate()[0]
        uids = [int((folder / "uid.txt").read_text()) for folder in folders]
    finally:
        for folder in folders:
            (folder / "release").touch()
        outputs = [holder.communicate(timeout=120)[0] for holder in holders]
    assert uids[0] != uids[1], f"both runs lent uid {uids[0]}"
    assert all(output.startswith("0 ") for output in outputs), outputs


_PLANT_KEY_AND_HANG = """
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("added", libc.syscall(ctypes.c_long(248), b"user", b"{name}", b"payload", ctypes.c_size_t(7), ctypes.c_long(-4)),
      flush=True)
time.sleep(120)
"""
_FIND_KEY = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("uid", os.getuid(), "found", libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(-4), b"user",
                                                 b"{name}", ctypes.c_long(0)) >= 0)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the keyring probe uses x86_64 system call numbers")
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_key_planted_by_a_run_killed_at_its_timeout_does_not_reach_the_next_run(tmp_path, warm):
    """A run killed at its timeout never reaches its own cleanup: the next run of its uid
    empties the uid's keyrings before the command starts."""
    _confined_or_skip()
    sandbox = LocalSandbox(uid_base=2_000_000_000 + secrets.randbelow(50_000_000), warm=warm)
    name = f"rsigym-redteam-{secrets.token_hex(6)}"
    planted = sandbox.run([sandbox.python(), "-c", _PLANT_KEY_AND_HANG.format(name=name)], tmp_path, timeout=8)
    assert planted.timed_out and "added" in planted.stdout and "added -1" not in planted.stdout, planted
    found = sandbox.run([sandbox.python(), "-c", _FIND_KEY.format(name=name)], tmp_path, timeout=60)
    assert found.ok and f"uid {sandbox._uids.base} found False" in found.stdout, found
