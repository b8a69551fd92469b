"""Inside fresh mount, PID and network namespaces: build the sandbox's view of the file
system, drop to an unprivileged user and run the command.

``LocalSandbox`` starts this file as a script (``unshare ... python -I -S _confine.py FD``),
so it uses the standard library only and never imports ``rsigym``. It runs as PID 1 of the
new PID namespace: when it exits, the kernel kills every process the command left behind.
The job arrives as JSON on file descriptor ``FD``; the command's wait status goes back as
JSON on the descriptor the job names (a pipe, so nothing else can fake it).

The view is a new tmpfs root holding only what the job lists: system directories and the
interpreter read-only, ``cwd`` read-write, ``readonly`` paths, a private ``/proc`` of this
PID namespace, a minimal ``/dev`` and an empty ``/tmp``. Everything else on the host (other
users' homes, the trainer's files, private task data, ``/run`` with its sockets) is absent.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _mountpoint(path: str, like: str) -> None:
    """Create ``path`` (parents 0755) as an empty directory or file, matching ``like``."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.isdir(like):
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif not os.path.exists(path):
        open(path, "w").close()


def _bind(root: str, source: str, writable: bool) -> None:
    """Show host ``source`` at the same path under ``root``, read-only unless ``writable``."""
    target = root + source
    if os.path.islink(source):  # merged-/usr systems: /bin -> usr/bin stays a link
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    _mountpoint(target, source)
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    _mount(None, target, None, flags)


def _hide(root: str, hidden: list[str]) -> None:
    """Cover each hidden host path that the view shows: a folder with an empty read-only
    tmpfs, a file with an unopenable node, so that bundled data stays out of reach."""
    for path in hidden:
        target = root + path
        if os.path.isdir(target) and not os.path.islink(target):
            _mount("rsigym-hidden", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k")
        elif os.path.isfile(target) and not os.path.islink(target):
            _mount("/dev/null", target, None, MS_BIND)
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _build_view(job: dict) -> None:
    root = job["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below leaks back to the host
    _mount("rsigym-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    scratch = f"mode=1777,size={job['tmp_bytes']}"
    os.makedirs(root + "/tmp", mode=0o755)
    _mount("rsigym-tmp", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, scratch)  # before binds that live in /tmp
    for source, writable in sorted(job["binds"], key=lambda bind: bind[0].count("/")):
        if os.path.lexists(source):
            _bind(root, source, writable)
    _hide(root, job.get("hidden", []))
    os.makedirs(root + "/proc", mode=0o755)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/dev", mode=0o755)
    _mount("rsigym-dev", root + "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEVICES:
        _mountpoint(f"{root}/dev/{name}", f"/dev/{name}")
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for index, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{index}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    os.makedirs(root + "/dev/shm", mode=0o755)
    _mount("rsigym-shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, scratch)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir("/")


def _become_sandbox_user(job: dict) -> None:
    """In the command's process: drop root for good, set rlimits, enter the working dir."""
    for name, value in job["rlimits"].items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.setgroups([])
    os.setresgid(job["gid"], job["gid"], job["gid"])
    os.setresuid(job["uid"], job["uid"], job["uid"])
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.chdir(job["cwd"])


def _run_command(job: dict) -> int:
    """Fork the command, reap every process until it ends, return its wait status."""
    child = os.fork()
    if child == 0:
        try:
            _become_sandbox_user(job)
            os.execvpe(job["argv"][0], job["argv"], job["env"])
        except BaseException as err:  # noqa: BLE001 - report any failure, then leave
            os.write(2, f"sandbox: cannot run {job['argv'][0]!r}: {err}\n".encode())
        os._exit(127)
    while True:  # PID 1 also inherits orphans: reap them until the command itself ends
        pid, status = os.wait()
        if pid == child:
            return status


def main(job_fd: int) -> None:
    with os.fdopen(job_fd, "rb") as stream:
        job = json.loads(stream.read())
    status_fd = job["status_fd"]
    os.set_inheritable(status_fd, False)
    os.umask(0o022)  # the view's folders must be traversable by the unprivileged uid
    try:
        _build_view(job)
    except OSError as err:
        os.write(status_fd, json.dumps({"error": str(err)}).encode())
        sys.exit(126)
    status = _run_command(job)
    os.write(status_fd, json.dumps({"status": status}).encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
