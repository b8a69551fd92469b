"""Unprivileged uids lent to confined runs: one run per uid on the whole host at a time,
and nothing of a run left behind under its uid once the run is over.

A uid is a host-wide identity: rlimit ``NPROC`` counts every process of that uid, file
ownership and kernel keyrings follow it. So a uid is lent under an exclusive ``flock`` on
its own lock file in a root-only folder (:func:`lock_folder`), which every process on the
host honours (async vector env workers, Ray workers, two trainers), and the lock goes
when its holder dies, however it dies. After each run, before the uid is free again,
:func:`remove_leftovers` deletes what the uid still owns outside the run's namespaces:
System V IPC objects and entries in the shared temporary folders. A confined run has its
own IPC namespace and private ``/tmp`` and ``/dev/shm``, so normally there is none; its
keyrings, which have no namespace, are emptied inside the run's namespace by
``_confine.end_run``.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Iterator, Sequence

LOCK_FOLDERS = (Path("/run/rsigym/uids"), Path("/tmp/rsigym-uids"))
SHARED_TEMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
IPC_RMID = 0
# /proc/sysvipc/<kind>: the call that removes one object of that kind, by its id.
_SYSV = {"shm": ("shmid", "shmctl"), "sem": ("semid", "semctl"), "msg": ("msqid", "msgctl")}

_libc = ctypes.CDLL(None, use_errno=True)


def _private_folder(folder: Path) -> bool:
    """Whether ``folder`` is a real directory of this user that nobody else can write."""
    info = folder.lstat()
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def lock_folder() -> Path:
    """The folder holding one lock file per lent uid: ``/run/rsigym/uids``, else
    ``/tmp/rsigym-uids``, created with mode 700. A folder someone else owns or can write
    (planted by another user to steal or block uids) is never used."""
    for folder in LOCK_FOLDERS:
        try:
            folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
            if _private_folder(folder):
                return folder
        except OSError:
            continue
    raise RuntimeError(f"no private folder for uid locks among {[str(f) for f in LOCK_FOLDERS]}")


class UidPool:
    """Lends uids ``base .. base + size - 1``, each to one run on the host at a time.

    Within a process a set of taken uids avoids retrying locks this process holds; across
    processes the lock file decides. A forked child forgets the parent's loans (its copies
    of the lock descriptors are closed; the parent's loans stay locked until it returns them).
    """

    def __init__(self, base: int, size: int = 1024, folder: Path | None = None):
        self.base, self.size = base, size
        self.folder = folder
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # uid -> descriptor of its locked file
        os.register_at_fork(after_in_child=self._forget_parent_loans)

    @contextlib.contextmanager
    def borrow(self, keep: Sequence[Path] = ()) -> Iterator[int]:
        """A uid no other run on this host holds, for the duration of the block. Afterwards
        its leftovers are removed (never ``keep`` or a folder holding it), then it is free."""
        uid = self._take()
        try:
            yield uid
        finally:
            try:
                remove_leftovers(uid, keep)
            finally:
                self._give_back(uid)

    def _take(self) -> int:
        with self._lock:
            folder = self.folder or lock_folder()
            for uid in range(self.base, self.base + self.size):
                if uid in self._held:
                    continue
                descriptor = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process on this host has lent it
                    os.close(descriptor)
                    continue
                self._held[uid] = descriptor
                return uid
        raise RuntimeError(f"all {self.size} sandbox uids from {self.base} are lent; too many runs on this host")

    def _give_back(self, uid: int) -> None:
        with self._lock:
            os.close(self._held.pop(uid))  # closing the last descriptor releases the flock

    def _forget_parent_loans(self) -> None:
        self._lock = threading.Lock()
        for descriptor in self._held.values():
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._held = {}


def remove_leftovers(uid: int, keep: Sequence[Path] = ()) -> list[str]:
    """Delete what ``uid`` still owns in the host's namespaces after its run: System V shared
    memory, semaphores and message queues, and entries directly in ``/tmp``, ``/var/tmp`` and
    ``/dev/shm`` (never one of ``keep`` or a folder holding one). Returns what it removed."""
    removed = [f"sysv {kind} {ident}" for kind, ident in _remove_sysv_objects(uid)]
    kept = [Path(path).resolve() for path in keep]
    for folder in SHARED_TEMP:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    path = Path(entry.path)
                    if entry.stat(follow_symlinks=False).st_uid != uid or any(k.is_relative_to(path) for k in kept):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed.append(str(path))
    return removed


def _remove_sysv_objects(uid: int) -> list[tuple[str, int]]:
    removed = []
    for kind, (id_column, call) in _SYSV.items():
        try:
            header, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        columns = header.split()
        for row in rows:
            fields = dict(zip(columns, row.split()))
            if str(uid) in (fields.get("uid"), fields.get("cuid")):
                ident = int(fields[id_column])
                args = (ctypes.c_int(ident), ctypes.c_int(0), ctypes.c_int(IPC_RMID)) if kind == "sem" else (
                    ctypes.c_int(ident), ctypes.c_int(IPC_RMID), None)
                if getattr(_libc, call)(*args) == 0:
                    removed.append((kind, ident))
    return removed
