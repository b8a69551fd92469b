"""Inside fresh mount, IPC, PID and network namespaces: build the sandbox's view of the file
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

import contextlib
import ctypes
import errno
import json
import os
import platform
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
DEVICES = ("null", "zero", "full", "random", "urandom")
# A status report is one small JSON object; anything longer is an attack on the reader.
MAX_REPORT_BYTES = 4096
# Kernel keyrings are not namespaced: keyctl(2) numbers and the keyrings a uid keeps.
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEYCTL_GET_PERSISTENT = 1, 7, 22
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5

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


def _bind_devices(root: str, job: dict) -> None:
    """Show the job's extra devices (``job["devices"]``: host paths of device nodes, or folders
    of them such as ``/dev/dri``) in the view's ``/dev``, each at ``job["device_targets"]``.

    A bind mount keeps the host node's owner and mode. Its own mount is remounted without
    ``nodev``, so a node made on a ``nodev`` file system (a test's ``mknod`` in a temporary
    folder) opens too, and without ``suid``. ``/sys`` comes along read-only (not its
    submounts) when ``job["sysfs"]`` asks for it: the NVIDIA driver reads the PCI topology
    there."""
    for source, target in zip(job.get("devices", []), job.get("device_targets", [])):
        if not os.path.exists(source):
            continue
        _mountpoint(root + target, source)
        recursive = MS_REC if os.path.isdir(source) else 0
        _mount(source, root + target, None, MS_BIND | recursive)
        _mount(None, root + target, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC)
    if job.get("sysfs") and os.path.isdir("/sys"):
        os.makedirs(root + "/sys", mode=0o755, exist_ok=True)
        _mount("/sys", root + "/sys", None, MS_BIND)
        _mount(None, root + "/sys", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


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
    _bind_devices(root, job)
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
    close_inherited_descriptors()
    _join_new_session_keyring()  # else the run would share (read, fill) the caller's keyring
    os.setgroups(job.get("device_groups", []))  # groups that may open the passed devices, never root
    os.setresgid(job["gid"], job["gid"], job["gid"])
    os.setresuid(job["uid"], job["uid"], job["uid"])
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.chdir(job["cwd"])


def _run_command(job: dict) -> int:
    """Fork the command, reap every process until it ends, return its wait status."""
    empty_uid_keyrings(job)
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
            end_run(job)
            return status


def end_run(job: dict) -> None:
    """In the namespace's init, once the command has ended: kill what it left behind, then
    empty the keyrings its uid keeps beyond the run (kernel keyrings have no namespace), so
    nothing it stored there outlives the run or reaches the next run of that uid."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of the namespace
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    empty_uid_keyrings(job)


def empty_uid_keyrings(job: dict) -> None:
    """Empty the user, user-session and persistent keyrings of the run's uid, from the
    namespace's init while no process of that uid runs: after the run (:func:`end_run`),
    and before it too, for what a run killed at its timeout (init included) left there."""
    # Act as the uid to reach its keyrings. No fork: the warm init is a copy of a large
    # server, and a fork of it costs more than the rest of the cleanup. Nothing of that
    # uid can touch this process meanwhile (none runs; the uid is lent to this run alone).
    root = os.getuid()
    try:
        _join_new_session_keyring()  # the init's own session keyring is the caller's
        os.setresuid(job["uid"], job["uid"], root)
        for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
            _keyctl(KEYCTL_CLEAR, keyring)
        with contextlib.suppress(OSError):  # kernels without persistent keyrings
            _keyctl(KEYCTL_CLEAR, _keyctl(KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_SESSION_KEYRING))
    except OSError as err:
        if err.errno not in (errno.ENOSYS, errno.EPERM):  # else: no keyrings here, nothing was stored
            os.write(2, f"sandbox: keyring cleanup failed: {err}\n".encode())
    finally:
        os.setresuid(root, root, root)


def close_inherited_descriptors() -> None:
    """Close every descriptor but stdin, stdout and stderr: a forked command must not keep
    the pipes of the process that confines it (its status report, the server's sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = max(soft, hard) if hard != resource.RLIM_INFINITY else 1 << 20
    os.closerange(3, min(limit, 1 << 30))


def read_report(descriptor: int) -> dict:
    """The JSON status report on pipe ``descriptor`` (closed afterwards), read by the trusted
    side. At most :data:`MAX_REPORT_BYTES` are read: a longer or malformed report comes
    back as ``{"error": ...}``, so a writer flooding the pipe can never grow the reader."""
    data = bytearray()
    with os.fdopen(descriptor, "rb", buffering=0) as stream:
        while len(data) <= MAX_REPORT_BYTES:
            chunk = stream.read(MAX_REPORT_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    if len(data) > MAX_REPORT_BYTES:
        return {"error": f"status report longer than {MAX_REPORT_BYTES} bytes"}
    try:
        report = json.loads(data or b"{}")
    except ValueError:
        return {"error": "malformed status report"}
    return report if isinstance(report, dict) else {"error": "malformed status report"}


def _keyctl(operation: int, *args: int) -> int:
    if _SYS_KEYCTL is None:
        raise OSError(errno.ENOSYS, "keyctl: unknown system call number on this machine")
    _libc.syscall.restype = ctypes.c_long
    result = _libc.syscall(_SYS_KEYCTL, ctypes.c_long(operation), *(ctypes.c_long(arg) for arg in args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"keyctl({operation}): {os.strerror(err)}")
    return result


def _join_new_session_keyring() -> None:
    """Subscribe this process to a new, empty session keyring (it dies with the run). Where
    keyctl itself is unavailable (no such call, or a seccomp filter), the command cannot use
    keyrings either, so there is nothing to separate."""
    try:
        _keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
    except OSError as err:
        if err.errno not in (errno.ENOSYS, errno.EPERM):
            raise


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
