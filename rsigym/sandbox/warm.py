"""Warm workers: Python runs forked from a server that has the heavy libraries imported.

A cold ``python solution.py`` spends most of a short run starting the interpreter and
importing numpy, pandas, scikit-learn and torch. A :class:`ForkServer` does that once; each
run is then a ``fork()`` of it, confined exactly like a cold run (see
:mod:`rsigym.sandbox._forkserver`). ``LocalSandbox(warm=True)`` sends every command it can
reproduce this way (``python script.py``, ``python -m mod``, ``python -c code``; see
:func:`rsigym.sandbox.pylaunch.parse_python_command`) to a server and starts the rest cold.

One server per interpreter and environment serves every sandbox of the process
(:func:`shared_server`); it ends when the process does.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Sequence

from rsigym.sandbox.pylaunch import Program

# What solutions of the shipped suites import; a module that is not installed is skipped.
DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "torch",
    "torch.nn.functional",
    "safetensors.torch",
)
START_TIMEOUT_S = 180.0


class WarmProcess:
    """A forked run, with the parts of ``subprocess.Popen`` a supervisor needs:
    ``pid`` (also its process group), ``wait(timeout)`` and a Popen-style ``returncode``."""

    def __init__(self, conn: socket.socket, pid: int):
        self._conn = conn
        self.pid = pid
        self.returncode: int | None = None
        self.server_lost = False  # the server died before reporting the run's status

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self._conn.settimeout(timeout)
        try:
            message = self._conn.recv(4096)
        except socket.timeout:
            raise subprocess.TimeoutExpired("warm run", timeout) from None
        finally:
            self._conn.settimeout(None)
        # An empty message means the server went away; the run is lost with it.
        self.server_lost = not message
        status = json.loads(message)["status"] if message else 255 << 8
        self.returncode = os.waitstatus_to_exitcode(status)
        self._conn.close()
        return self.returncode


class ForkServer:
    """A server process that imported ``preload`` under ``env``, forking one child per run.

    Args:
        python: interpreter of the server (and so of every run it forks).
        preload: modules imported before the first fork.
        env: the server's environment while it imports (thread counts are read then).
    """

    def __init__(self, python: str, preload: Sequence[str], env: Mapping[str, str]):
        self.python = python
        self.owner_pid = os.getpid()  # a forked copy of the client must not use or stop this server
        self._folder = Path(tempfile.mkdtemp(prefix="rsigym-warm-"))  # 0700: only its owner connects
        self.socket_path = str(self._folder / "socket")
        # -I keeps the caller's PYTHONPATH out; the server finds this copy of rsigym by path
        # and leaves that path off the sys.path its children start from.
        bootstrap = (
            "import sys; root = sys.argv[1]; sys.path.insert(0, root); "
            "from rsigym.sandbox._forkserver import main; main(root, sys.argv[2], sys.argv[3:])"
        )
        self._process = subprocess.Popen(
            [python, "-I", "-c", bootstrap, _rsigym_root(), self.socket_path, *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            cwd=self._folder,
        )
        ready = _read_line(self._process.stdout, START_TIMEOUT_S)
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the warm worker server did not start (said {ready!r})")

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self._process.poll() is None

    def start(self, program: Program, cwd: Path, env: Mapping[str, str], rlimits: Mapping[str, list[int]],
              stdout: int, stderr: int, isolate_network: bool, confine: dict | None = None) -> WarmProcess:
        """Fork a child that runs ``program`` in ``cwd``; its output goes to ``stdout``/``stderr``."""
        request = {
            "program": program._asdict(),
            "cwd": str(cwd),
            "env": dict(env),
            "rlimits": dict(rlimits),
            "isolate_network": isolate_network,
            "confine": confine,
        }
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(self.socket_path)
            socket.send_fds(conn, [json.dumps(request).encode()], [stdout, stderr])
            reply = json.loads(conn.recv(4096) or b'{"error": "the warm worker server closed the connection"}')
        except BaseException:
            conn.close()
            raise
        if "pid" not in reply:
            conn.close()
            raise OSError(reply.get("error", "warm start refused"))
        return WarmProcess(conn, reply["pid"])

    def close(self) -> None:
        if self.owner_pid != os.getpid():
            return
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()  # the server ends when its stdin closes
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def _rsigym_root() -> str:
    """The folder holding the ``rsigym`` package, so the server imports this very copy."""
    import rsigym

    return str(Path(rsigym.__file__).resolve().parent.parent)


def _read_line(stream, timeout: float, cap: int = 256) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline(cap).decode(errors="replace").strip()),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


_servers: dict[tuple, ForkServer] = {}
_servers_lock = threading.Lock()


def shared_server(python: str, preload: Sequence[str], env: Mapping[str, str]) -> ForkServer:
    """The process's server for this interpreter, preload list and environment (started on
    first use, again if it died, and anew in a forked copy of this process)."""
    key = (os.getpid(), python, tuple(preload), tuple(sorted(env.items())))
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.alive():
            server = _servers[key] = ForkServer(python, preload, env)
        return server


@atexit.register
def _close_servers() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.close()
        _servers.clear()


def server_environment(threads: str | None = None) -> dict[str, str]:
    """The environment a server imports under: what every run shares at import time."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads or os.environ.get("RSIGYM_SANDBOX_THREADS", "2"),
        "MPLBACKEND": "Agg",
        **({"TRITON_INTERPRET": os.environ["TRITON_INTERPRET"]} if "TRITON_INTERPRET" in os.environ else {}),
    }
