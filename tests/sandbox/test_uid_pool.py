"""The host-wide uid pool of confined runs: one holder per uid across processes, locks in a
folder nobody else controls, and a uid's leftovers removed before it is lent again."""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rsigym.sandbox import uid_pool
from rsigym.sandbox.uid_pool import UidPool, remove_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="lending uids (confined mode) needs root")


def _base() -> int:
    return 1_900_000_000 + secrets.randbelow(10_000_000)


def test_two_pools_never_lend_the_same_uid(tmp_path):
    """Two pools stand for two processes: the lock file, not the pool, decides."""
    base = _base()
    first, second = UidPool(base, folder=tmp_path), UidPool(base, folder=tmp_path)
    with first.borrow() as held:
        with second.borrow() as other:
            assert held == base and other == base + 1
    with second.borrow() as again:
        assert again == base


def test_a_dead_holders_uid_is_free_again(tmp_path):
    base = _base()
    hold = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
            f"from pathlib import Path; from rsigym.sandbox.uid_pool import UidPool\n"
            f"with UidPool({base}, folder=Path({str(tmp_path)!r})).borrow() as uid:\n"
            f"    print(uid, flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert int(holder.stdout.readline()) == base
        with UidPool(base, folder=tmp_path).borrow() as uid:
            assert uid == base + 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with UidPool(base, folder=tmp_path).borrow() as uid:
        assert uid == base  # killed without cleanup, yet its lock went with it


def test_a_forked_child_does_not_inherit_loans(tmp_path):
    base = _base()
    pool = UidPool(base, folder=tmp_path)
    with pool.borrow() as held:
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                with pool.borrow() as uid:
                    os.write(write_end, str(uid).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        with os.fdopen(read_end) as stream:
            assert int(stream.read()) == held + 1


def test_a_lock_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    planted, planted_link, ours = tmp_path / "planted", tmp_path / "link", tmp_path / "ours"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    planted_link.symlink_to(planted)
    monkeypatch.setattr(uid_pool, "LOCK_FOLDERS", (planted, planted_link, ours))
    assert uid_pool.lock_folder() == ours
    assert oct(ours.stat().st_mode & 0o777) == oct(0o700)


def _as_uid(uid: int, action) -> None:
    """Run ``action`` in a forked child that has become ``uid``."""
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            action()
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def test_leftovers_of_a_uid_are_removed(tmp_path):
    """What a uid still owns on the host after its run — System V objects, entries in the
    shared temporary folders — goes; its run's own folder (``keep``) stays."""
    uid = _base()
    libc = ctypes.CDLL(None, use_errno=True)
    _as_uid(uid, lambda: (libc.shmget(0, ctypes.c_size_t(1 << 20), 0o600), libc.semget(0, 1, 0o600),
                          libc.msgget(0, 0o600)))
    stray_file = Path("/tmp") / f"rsigym-test-stray-{uid}"
    stray_dir = Path("/dev/shm") / f"rsigym-test-stray-{uid}"
    kept = Path("/tmp") / f"rsigym-test-kept-{uid}"
    stray_file.write_text("left")
    stray_dir.mkdir()
    (stray_dir / "inner").write_text("left")
    kept.mkdir()
    for path in (stray_file, stray_dir, stray_dir / "inner", kept):
        os.chown(path, uid, uid)
    try:
        removed = remove_leftovers(uid, keep=[kept / "cwd"])
        assert sorted(line.split()[1] for line in removed if line.startswith("sysv")) == ["msg", "sem", "shm"]
        assert str(stray_file) in removed and str(stray_dir) in removed
        assert not stray_file.exists() and not stray_dir.exists() and kept.is_dir()
        for kind in ("shm", "sem", "msg"):
            header, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
            column = header.split().index("uid")
            assert all(row.split()[column] != str(uid) for row in rows)
    finally:
        kept.rmdir()
