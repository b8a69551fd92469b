"""The warm worker server: imports the heavy libraries once, then forks one child per run.

Started by :class:`rsigym.sandbox.warm.ForkServer`, which calls :func:`main` with the
socket path and the modules to import from a ``python -I`` process. It imports each ``MODULE`` it can, listens on
the Unix socket ``SOCKET`` (in a folder only its owner can enter), prints ``ready`` and
serves until its stdin closes (the client process ended, however it ended); then it removes
the socket and its folder.

One connection is one run. The client sends a JSON request and, as ancillary data, the
descriptors the child's stdout and stderr go to; the server forks, answers ``{"pid": N}``
and, once the child is reaped, ``{"status": S}`` (a wait status). The server itself runs
no request code: a child applies its own confinement (new namespaces, a view of the file
system, rlimits, an unprivileged uid) before the program starts, exactly as a cold
start does, so a warm run is held to the same limits as a cold one.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import sys

from rsigym.sandbox import _confine, pylaunch

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MAX_REQUEST_BYTES = 4 * 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def _apply_rlimits(rlimits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _run(request: dict, base_path: list[str]) -> int:
    """In the program's own process: become what the request says, then run the program."""
    program = pylaunch.Program(**request["program"])
    os.chdir(request["cwd"])
    return pylaunch.run_program(program, request["env"], base_path)


def _process_child(request: dict, base_path: list[str]) -> int:
    if request.get("isolate_network"):
        _unshare(CLONE_NEWNET)
    _apply_rlimits(request["rlimits"])
    return _run(request, base_path)


def _confined_child(request: dict, base_path: list[str]) -> None:
    """Namespaces, view and uid as ``_confine.py`` builds them for a cold run. This process
    waits for the namespace's init and ends the way the program ended."""
    job = request["confine"]
    status_read, status_write = os.pipe()
    _unshare(CLONE_NEWPID)
    init = os.fork()
    if init == 0:  # PID 1 of the new namespace: everything in it dies with this process
        os.close(status_read)
        try:
            _unshare(CLONE_NEWNS | CLONE_NEWIPC | (CLONE_NEWNET if request.get("isolate_network") else 0))
            os.umask(0o022)
            _confine._build_view(job)
            _confine.empty_uid_keyrings(job)
            command = os.fork()
            if command == 0:
                _confine._become_sandbox_user(job)  # closes the status pipe first: it is not the program's
                os._exit(_run(request, base_path))
            while True:
                pid, status = os.wait()
                if pid == command:
                    break
            _confine.end_run(job)
            os.write(status_write, json.dumps({"status": status}).encode())
        except BaseException as err:  # noqa: BLE001 - reported, never raised into the server's copy
            os.write(2, f"sandbox setup failed: {err}\n".encode())
            os.write(status_write, json.dumps({"error": str(err)}).encode())
        os._exit(0)
    os.close(status_write)
    report = _confine.read_report(status_read)
    os.waitpid(init, 0)
    status = report.get("status")
    if status is None:
        os._exit(126)
    if os.WIFSIGNALED(status):  # die of the same signal, so the client sees what a cold run shows
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):  # those two take no handler
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _child(request: dict, fds: list[int], base_path: list[str]) -> None:
    """After the fork: the request's descriptors become stdio, then confinement and the program."""
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        for target, source in enumerate((null, *fds)):
            os.dup2(source, target)
        _confine.close_inherited_descriptors()
        if request.get("confine"):
            _confined_child(request, base_path)
        os._exit(_process_child(request, base_path))
    except BaseException as err:  # noqa: BLE001
        try:
            os.write(2, f"sandbox: warm start failed: {err}\n".encode())
        finally:
            os._exit(126)


def serve(listener: socket.socket, base_path: list[str]) -> None:
    """Accept runs until stdin closes; reap children and report their status."""
    waiting: dict[int, socket.socket] = {}
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        try:
            readable, _, _ = select.select([listener, wake_read, sys.stdin], [], [], 5.0)
        except InterruptedError:
            readable = []
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            return
        if wake_read in readable:
            while True:
                try:
                    if not os.read(wake_read, 4096):
                        break
                except BlockingIOError:
                    break
        if listener in readable:
            _accept(listener, waiting, base_path, (wake_read, wake_write))
        _reap(waiting)


def _accept(listener: socket.socket, waiting: dict[int, socket.socket], base_path: list[str], wake: tuple) -> None:
    conn, _ = listener.accept()
    try:
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST_BYTES, 2)
        request = json.loads(message)
        if len(fds) != 2:
            raise ValueError("a run needs two descriptors (stdout, stderr)")
    except (OSError, ValueError) as err:
        conn.sendall(json.dumps({"error": str(err)}).encode())
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _child(request, fds, base_path)
    for descriptor in fds:
        os.close(descriptor)
    try:
        conn.sendall(json.dumps({"pid": pid}).encode())
    except OSError:
        pass
    waiting[pid] = conn


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is None:
            continue
        try:
            conn.sendall(json.dumps({"status": status}).encode())
        except OSError:
            pass
        conn.close()


def main(rsigym_root: str, socket_path: str, modules: list[str]) -> None:
    base_path = [entry for entry in sys.path if entry != rsigym_root]  # what a fresh ``python -I`` has
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a library that is not installed is simply not warm
            pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(socket_path)
    listener.listen(64)
    gc.collect()
    gc.freeze()  # children then share the imported objects' pages instead of copying them
    print("ready", flush=True)
    try:
        serve(listener, base_path)
    finally:  # the client is gone (stdin closed), maybe without cleaning up: leave nothing behind
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(socket_path)
            os.rmdir(os.path.dirname(socket_path))

