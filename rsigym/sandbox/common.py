"""Host-side pieces every sandbox provider shares: the command's environment, output
tails, and the working directory a run borrows (checked, lent, cleaned, given back)."""
from __future__ import annotations

import contextlib
import os
import signal
import stat
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

# Variables a command may inherit; everything else (tokens, keys, the trainer's state) is dropped.
_PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "TRITON_INTERPRET")
# Host directories a confined command sees (read-only): enough to run programs, nothing private.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def sandbox_environment(cwd: Path, bin_dirs: Sequence[str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """The whole environment of a sandboxed command: a few harmless host variables,
    ``HOME`` and ``TMPDIR`` in ``cwd``, then the caller's ``extra`` on top."""
    env = {key: os.environ[key] for key in _PASSTHROUGH if key in os.environ}
    env.update(
        PATH=":".join(dict.fromkeys([*bin_dirs, "/usr/local/bin", "/usr/bin", "/bin"])),
        HOME=str(cwd),
        TMPDIR=str(cwd),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        MPLCONFIGDIR=str(cwd / ".mpl"),
        OMP_NUM_THREADS=os.environ.get("RSIGYM_SANDBOX_THREADS", "2"),
    )
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


class OutputTail:
    """Keeps the last ``cap`` bytes of a stream, and counts what it dropped."""

    def __init__(self, cap: int):
        self.cap = cap
        self.buffer = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.buffer += chunk
        if len(self.buffer) > 2 * self.cap:  # trim in batches, not on every chunk
            self._trim()

    def _trim(self) -> None:
        if len(self.buffer) > self.cap:
            self.dropped += len(self.buffer) - self.cap
            del self.buffer[: len(self.buffer) - self.cap]

    def text(self) -> str:
        self._trim()
        body = self.buffer.decode("utf-8", errors="replace")
        return f"[... {self.dropped} bytes cut ...]\n{body}" if self.dropped else body


def outermost(paths: Iterable[Path]) -> list[Path]:
    """The resolved ``paths`` without those that lie inside another one."""
    resolved = sorted({Path(path).resolve() for path in paths}, key=lambda path: len(path.parts))
    kept: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.append(path)
    return kept


def _walk(root: Path, keep_out: set[Path]) -> Iterator[Path]:
    yield root
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if Path(folder, name) not in keep_out]
        for name in dirs + files:
            yield Path(folder, name)


_HOST_DIRS = (*SYSTEM_DIRS, "/dev", "/proc", "/sys", "/run", "/boot")  # never a working directory
_SHARED_DIRS = ("/var", "/home", "/root", "/tmp")  # may hold one, never be one


def require_scratch_dir(folder: Path) -> Path:
    """``folder`` resolved, if it can be a sandbox's working directory: a provider lends it
    to the command and cleans it afterwards, so system folders (and their parents, like
    ``/``) or a whole ``/home`` raise ``ValueError``."""
    folder = Path(folder).resolve()
    for name in _HOST_DIRS + _SHARED_DIRS:
        host_dir = Path(name).resolve()
        if host_dir.is_relative_to(folder) or (name in _HOST_DIRS and folder.is_relative_to(host_dir)):
            raise ValueError(f"{folder} overlaps {name}; give the sandbox a scratch directory")
    return folder


@contextlib.contextmanager
def lend(folder: Path, uid: int, gid: int, keep_out: Sequence[Path] = ()) -> Iterator[None]:
    """Hand the tree under ``folder`` to ``uid:gid`` for a run, then give everything in it (new
    files too) back to its owner. Trees under ``keep_out`` stay as they are. Only a scratch
    tree of one owner can be lent: anything else (a system directory, a home shared with
    other users) raises ``ValueError`` before a file changes hands."""
    folder = require_scratch_dir(folder)
    skip = {Path(path).resolve() for path in keep_out}
    owner = folder.stat()
    entries = list(_walk(folder, skip))
    strangers = [entry for entry in entries if entry.lstat().st_uid != owner.st_uid]
    if strangers:
        raise ValueError(f"{folder} holds files of other owners ({strangers[0]}); a sandbox needs a scratch directory")
    try:
        for entry in entries:
            os.chown(entry, uid, gid, follow_symlinks=False)
        yield
    finally:
        for entry in _walk(folder, skip):
            with contextlib.suppress(FileNotFoundError):
                os.chown(entry, owner.st_uid, owner.st_gid, follow_symlinks=False)


def remove_unsafe_entries(folder: Path) -> list[Path]:
    """Delete what a run left under ``folder`` that trusted code (a grader) must not open:
    symlinks that lead outside ``folder`` (say, to the task's private labels), FIFOs that
    would block a reader, sockets and device nodes. Returns what it deleted."""
    folder = Path(folder).resolve()
    removed = []
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent, name)
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                continue
            if stat.S_ISLNK(mode) and path.resolve().is_relative_to(folder):
                continue
            try:
                path.unlink()
            except PermissionError:  # the command took write access away from its own folder
                os.chmod(parent, stat.S_IMODE(os.stat(parent).st_mode) | stat.S_IRWXU)
                path.unlink()
            removed.append(path)
    return removed


def killed_reason_for(returncode: int, timed_out: bool, timeout: float) -> str:
    """Why a command stopped, from its Popen-style return code (``-N``: killed by signal N)."""
    if timed_out:
        return f"timeout after {timeout:g} s"
    reasons = {
        -signal.SIGXCPU: "CPU-time limit",
        -signal.SIGXFSZ: "file-size limit",
        -signal.SIGSEGV: "segmentation fault",
        -signal.SIGKILL: "killed",
    }
    return reasons.get(returncode, "")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (someone else's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
