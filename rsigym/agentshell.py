"""``rsigym shell RUN [-- CMD ...]``: an external agent's shell, confined to its workspace.

An agent with a shell on the evaluator's machine could read ``<run>/private``, edit
``<run>/grades`` or raise the budget in the run's settings. Here the agent's shell (or any
command, a coding agent's CLI included) runs in the local sandbox's confined mode
(:mod:`rsigym.sandbox._confine`): new mount, PID, IPC and (by default) network namespaces,
an unprivileged uid of its own, and a view holding the system folders, the interpreter, its
copy of the workspace (read-write), its brief (``AGENT.md``) and a folder with the grading
socket and an ``rsigym`` client (:mod:`rsigym._shellclient`). Nothing else of the run exists
in that view.

``rsigym evaluate`` / ``submit`` inside reach this process through the socket; it accepts the
lent uid only (``SO_PEERCRED``). For each request it first copies the agent's workspace into
the run's own ``<run>/workspace`` (:class:`rsigym.safecopy.Mirror`: regular files only, links
recreated as links so that the evaluation refuses them, nothing ever followed), then runs
``rsigym evaluate RUN`` as itself, outside the sandbox, exactly as a trusted operator would.
The run's workspace is stable while it is scored and committed: the agent's edits during an
evaluation land in its copy and are taken at the next request.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Sequence

import gymnasium as gym

from rsigym.agent_brief import agent_instructions
from rsigym.registry import load_suite
from rsigym.operations import MAX_WORKSPACE_BYTES
from rsigym.safecopy import Mirror
from rsigym.sandbox import _confine
from rsigym.sandbox.common import lend
from rsigym.sandbox.hidden import hidden_paths
from rsigym.sandbox.local import LocalSandbox
from rsigym.trusted import load_settings
from rsigym.workspace import VERSION_CONTROL_NAMES

SHELL_DIR = "shell"  # <run>/shell/: the agent's copy of the workspace and its brief
# Lent uids for shells start below the pool of solution runs, so an agent's processes never
# share a uid (and its process limit) with a solution being graded.
SHELL_UID_BASE = 2_099_000_000
# An agent's session has no time or memory cap; processes and file sizes are bounded.
SHELL_RLIMITS = {"RLIMIT_NPROC": 2048, "RLIMIT_FSIZE": 4 * 1024**3, "RLIMIT_CORE": 0}
_CLIENT_SOURCE = Path(__file__).with_name("_shellclient.py")
_REQUEST_BYTES = 4096


def reserved_name(name: str) -> bool:
    """Names the agent's copy never passes on: version control (the history is the env's)."""
    return name.lower() in VERSION_CONTROL_NAMES


class GradingServer(threading.Thread):
    """Serves ``evaluate`` and ``submit`` requests from one uid on a Unix socket, one at a time."""

    def __init__(self, socket_path: Path, run_dir: Path, mirror: Mirror, uid: int):
        super().__init__(daemon=True)
        self.run_dir, self.mirror, self.uid = run_dir, mirror, uid
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(socket_path))
        os.chmod(socket_path, 0o666)  # reachable by the lent uid; SO_PEERCRED turns everyone else away
        self.listener.listen(8)

    def run(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed by stop()
                return
            with connection:
                with contextlib.suppress(OSError, ValueError):
                    self._serve(connection)

    def stop(self) -> None:
        """Accept no more requests; wait for one in flight (nothing may change the run's
        workspace while it is scored)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.join()

    def _serve(self, connection: socket.socket) -> None:
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", credentials)
        if uid != self.uid:
            connection.sendall(_reply(1, "", f"refused: uid {uid} is not this shell's agent\n"))
            return
        connection.settimeout(30)
        request = b""
        while not request.endswith(b"\n") and len(request) < _REQUEST_BYTES:
            chunk = connection.recv(_REQUEST_BYTES)
            if not chunk:
                break
            request += chunk
        message = json.loads(request)
        command = message.get("command") if isinstance(message, dict) else None  # any JSON may come
        if command not in ("evaluate", "submit"):
            connection.sendall(_reply(2, "", f"unknown command {command!r}\n"))
            return
        connection.settimeout(None)
        connection.sendall(self.handle(command))

    def handle(self, command: str) -> bytes:
        """Take the agent's workspace, then run ``rsigym COMMAND RUN`` on the trusted side."""
        try:
            notes = self.mirror.sync(MAX_WORKSPACE_BYTES)
        except (OSError, ValueError) as err:
            return _reply(1, "", f"the workspace was not taken, nothing was scored: {err}\n")
        done = subprocess.run([sys.executable, "-m", "rsigym.cli", command, str(self.run_dir)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
        warnings = "".join(f"note: {note}\n" for note in notes)
        return _reply(done.returncode, done.stdout, warnings + done.stderr)


def _reply(returncode: int, stdout: str, stderr: str) -> bytes:
    return json.dumps({"rc": returncode, "stdout": stdout, "stderr": stderr}).encode() + b"\n"


def _client_script(socket_path: Path) -> str:
    entry = f'\n\nif __name__ == "__main__":\n    sys.exit(main(sys.argv[1:], {str(socket_path)!r}))\n'
    return f"#!{sys.executable} -IS\n" + _CLIENT_SOURCE.read_text() + entry


@contextlib.contextmanager
def _runtime_dir() -> Iterator[Path]:
    """A folder for the socket and the client, readable by the agent's uid, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rsigym-shell-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        (folder / "bin").mkdir(mode=0o755)
        yield folder


def _confined_command(
    sandbox: LocalSandbox, argv: Sequence[str], uid: int, workspace: Path, visible: Sequence[tuple[Path, bool]],
    env: dict[str, str], network: bool,
) -> int:
    """Run ``argv`` in the confined view, attached to this terminal; its exit status."""
    with tempfile.TemporaryDirectory(prefix="rsigym-view-") as view_root:
        job = {
            "argv": list(argv), "env": env, "cwd": str(workspace), "uid": uid, "gid": uid,
            "rlimits": {name: [value, value] for name, value in SHELL_RLIMITS.items()},
            "tmp_bytes": sandbox.tmp_bytes,
            "binds": [[path, False] for path in sandbox._visible] + [[str(path), rw] for path, rw in visible],
            "hidden": hidden_paths(),  # the run's tasks' leak sources: the agent could copy test labels from them
            "root": view_root,
        }
        namespaces = ["--mount", "--pid", "--ipc", "--fork", "--kill-child"] + ([] if network else ["--net"])
        job_read, job_write = os.pipe()
        status_read, status_write = os.pipe()
        job["status_fd"] = status_write
        argv_outer = ["unshare", *namespaces, "--", sys.executable, "-I", "-S", _confine.__file__, str(job_read)]
        proc = subprocess.Popen(argv_outer, cwd="/", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                                pass_fds=(job_read, status_write))
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the agent's shell, not for us
        try:
            os.close(job_read)
            os.close(status_write)
            with os.fdopen(job_write, "wb") as stream:
                stream.write(json.dumps(job).encode())
            report = _confine.read_report(status_read)  # capped: the agent's side must not grow us
            proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
    if "error" in report:
        print(f"rsigym shell: sandbox setup failed: {report['error']}", file=sys.stderr)
        return 126
    return os.waitstatus_to_exitcode(report["status"]) if "status" in report else 1


def run_shell(run_dir: Path, command: Sequence[str] = (), network: bool = False) -> int:
    """Start ``command`` (default: ``bash``) for an agent, confined to its copy of ``run_dir``'s
    workspace, and serve its ``rsigym evaluate`` / ``submit``; returns the command's exit status.
    When it ends, its edits are copied into ``<run>/workspace`` (pending, not evaluated)."""
    run_dir = Path(run_dir).resolve()
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("rsigym shell needs root and a working `unshare` (the local sandbox's confined mode); without "
              "them an agent's shell cannot be kept from the run's private data (docs/security.md)", file=sys.stderr)
        return 2
    settings = load_settings(run_dir)
    kwargs = settings["kwargs"]
    load_suite(kwargs.get("suite", "default"), kwargs.get("tasks"))  # declares the tasks' leak sources
    shell_dir = run_dir / SHELL_DIR
    shell_dir.mkdir(mode=0o755, exist_ok=True)
    with open(shell_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another rsigym shell is serving {run_dir}", file=sys.stderr)
            return 1
        return _serve_shell(run_dir, settings, shell_dir, command, network)


def _serve_shell(run_dir: Path, settings: dict, shell_dir: Path, command: Sequence[str], network: bool) -> int:
    agent_workspace = shell_dir / "workspace"
    # A fresh copy of the run's workspace: a killed shell may have left files of its uid behind
    # (its edits since the last request are lost, as unsaved work is).
    if agent_workspace.exists():
        shutil.rmtree(agent_workspace)
    Mirror(run_dir / "workspace", agent_workspace).sync()
    brief = shell_dir / "AGENT.md"
    brief.write_text(_brief(settings, run_dir, agent_workspace))
    brief.chmod(0o644)
    taken = Mirror(agent_workspace, run_dir / "workspace", skip=reserved_name)
    sandbox = LocalSandbox(confine=True, warm=False, uid_base=SHELL_UID_BASE)
    argv = list(command) or ["bash", "-i"]
    with sandbox._uids.borrow() as uid, _runtime_dir() as runtime:
        socket_path = runtime / "rsigym.sock"
        client = runtime / "bin" / "rsigym"
        client.write_text(_client_script(socket_path))
        client.chmod(0o755)
        server = GradingServer(socket_path, run_dir, taken, uid)
        server.start()
        env = {
            "PATH": ":".join(dict.fromkeys([str(runtime / "bin"), str(Path(sys.executable).parent),
                                            "/usr/local/bin", "/usr/bin", "/bin"])),
            "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TERM": os.environ.get("TERM", "dumb"), "PYTHONDONTWRITEBYTECODE": "1",
            "RSIGYM_WORKSPACE": str(agent_workspace),
        }
        visible = [(agent_workspace, True), (brief, False), (runtime, False)]
        try:
            with lend(agent_workspace, uid, uid):
                return _confined_command(sandbox, argv, uid, agent_workspace, visible, env, network)
        finally:
            server.stop()
            try:
                notes = taken.sync(MAX_WORKSPACE_BYTES)
            except (OSError, ValueError) as err:
                notes = [f"the last edits were not taken into {run_dir / 'workspace'}: {err}"]
            for note in notes:
                print(f"rsigym shell: {note}", file=sys.stderr)


def _brief(settings: dict, run_dir: Path, agent_workspace: Path) -> str:
    """``AGENT.md`` for a confined agent: the usual brief, with its workspace and commands."""
    env = gym.make(settings["env_id"], **{**settings["kwargs"], "run_dir": run_dir})
    try:
        return agent_instructions(env, agent_workspace, "rsigym evaluate", "rsigym submit")
    finally:
        env.close()
