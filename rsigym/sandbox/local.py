"""The local sandbox: the embedded default, with no engine to install.

It has two modes. ``confined`` (chosen when the process runs as root and ``unshare`` works):
the command runs in new mount, PID and network namespaces, sees only the system directories,
the interpreter, ``cwd`` and the paths it is given, runs under a throw-away unprivileged uid
with rlimits, and everything it started dies with it. ``process`` (everywhere else): a
subprocess in its own process group with rlimits, a scrubbed environment, capped output and,
where ``unshare --net`` works, no network; it runs as the caller on the caller's file system.

With ``warm=True`` (the default), Python commands are not started cold: they are forked from
a server that has numpy, pandas, scikit-learn and torch imported (:mod:`rsigym.sandbox.warm`),
and confined in the same way, in either mode. Other commands start cold.

``docs/sandboxes.md`` lists what each mode cannot isolate; ``LocalSandbox.known_gaps`` names
the conformance checks the chosen mode cannot pass. Use ``docker`` for agents you distrust.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterator, Mapping, Protocol, Sequence

from rsigym.sandbox import warm as warm_workers
from rsigym.sandbox.base import ExecResult, Limits, Sandbox, start_dir
from rsigym.sandbox.common import (
    SYSTEM_DIRS,
    OutputTail,
    killed_reason_for,
    lend,
    outermost,
    remove_unsafe_entries,
    require_scratch_dir,
    sandbox_environment,
)
from rsigym.sandbox.hidden import hidden_paths
from rsigym.sandbox.pylaunch import Program, parse_python_command, simple_command

_CONFINE_SCRIPT = Path(__file__).with_name("_confine.py")
# Gaps of process mode, named as in rsigym.sandbox.conformance.CHECKS.
_PROCESS_MODE_GAPS = frozenset(
    {"timeout", "background_processes", "readonly_paths", "confinement", "private_data_hidden"}
)
_ROOT_GAPS = frozenset({"unprivileged", "process_limit"})  # rlimit NPROC does not bind root


@functools.lru_cache(maxsize=None)
def network_namespace_available() -> bool:
    """True when ``unshare --net`` works here (root, or user namespaces allowed)."""
    if not shutil.which("unshare"):
        return False
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=None)
def confinement_available() -> bool:
    """True when confined mode works here: root, ``unshare``, and a trial run succeeds."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        with tempfile.TemporaryDirectory(prefix="rsigym-probe-") as tmp:
            trial = LocalSandbox(confine=True, isolate_network=network_namespace_available())
            return trial.run(["true"], Path(tmp), timeout=30).ok
    except (OSError, ValueError):  # no usable scratch folder for the trial
        return False


class _TailReader(threading.Thread):
    """Drains a pipe into an :class:`OutputTail`, so a chatty command cannot fill memory."""

    def __init__(self, stream: IO[bytes], cap: int):
        super().__init__(daemon=True)
        self.stream = stream
        self.tail = OutputTail(cap)

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            self.tail.add(chunk)


class _UidPool:
    """Gives each concurrent confined run its own uid, so rlimit NPROC (counted per uid)
    and file ownership never mix two runs. One pool per ``base`` in a process, shared by
    every sandbox using it (:func:`_uid_pool`)."""

    def __init__(self, base: int, size: int = 1024):
        self.base, self.size = base, size
        self.lock = threading.Lock()
        self.taken: set[int] = set()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[int]:
        with self.lock:
            uid = next(self.base + slot for slot in range(self.size) if self.base + slot not in self.taken)
            self.taken.add(uid)
        try:
            yield uid
        finally:
            with self.lock:
                self.taken.discard(uid)


@functools.lru_cache(maxsize=None)
def _uid_pool(base: int) -> _UidPool:
    return _UidPool(base)


def _interpreter_dirs(python: str) -> list[str]:
    """Directories a Python interpreter needs to start: its prefixes (a venv and its base)."""
    if python == sys.executable:
        prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    else:
        query = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix]))"
        prefixes = json.loads(subprocess.run([python, "-I", "-c", query], capture_output=True, check=True).stdout)
    prefixes.append(str(Path(python).resolve().parent))
    system = [Path(path) for path in SYSTEM_DIRS]
    return [str(path) for path in outermost(map(Path, prefixes)) if not any(path.is_relative_to(s) for s in system)]


class LocalSandbox(Sandbox):
    """Subprocess sandbox (the embedded default).

    Args:
        isolate_network: cut the network with a new network namespace when possible
            (``"auto"``), always (``True``, failing where it cannot) or never (``False``).
        python: interpreter for solutions; defaults to the one running rsigym.
        confine: ``"auto"`` picks confined mode where it works; ``True`` insists on it,
            ``False`` forces process mode.
        uid_base: first uid lent to confined runs (unnamed uids; each run gets its own).
        tmp_bytes: size of the private ``/tmp`` and ``/dev/shm`` of a confined run.
        warm: fork Python commands from a warm worker server instead of starting them cold.
        preload: modules the warm server imports (default :data:`~rsigym.sandbox.warm.DEFAULT_PRELOAD`).
    """

    name = "local"

    def __init__(
        self,
        isolate_network: bool | str = "auto",
        python: str | None = None,
        confine: bool | str = "auto",
        uid_base: int = 2_100_000_000,
        tmp_bytes: int = 256 * 1024**2,
        warm: bool = True,
        preload: Sequence[str] | None = None,
    ):
        self.python_path = python or sys.executable
        if isolate_network == "auto":
            isolate_network = network_namespace_available()
        elif isolate_network and not network_namespace_available():
            raise RuntimeError("network isolation asked for, but `unshare --net` is not permitted here")
        self.isolate_network = bool(isolate_network)
        if confine == "auto":
            confine = confinement_available()
        elif confine and (os.geteuid() != 0 or not shutil.which("unshare")):
            raise RuntimeError("confined mode needs root and `unshare`; use confine=False or the docker sandbox")
        self.mode = "confined" if confine else "process"
        self.integrity = "strong" if confine else (
            "weak: process mode runs solutions as the caller on the host's file system; they can read "
            "bundled test data, private task files and the host key (use confined mode or docker)"
        )
        self.tmp_bytes = tmp_bytes
        self._uids = _uid_pool(uid_base)
        self._bin_dirs = [str(Path(self.python_path).parent)]
        self._visible = [*SYSTEM_DIRS, *_interpreter_dirs(self.python_path)] if confine else []
        self.warm = bool(warm)
        self.preload = tuple(warm_workers.DEFAULT_PRELOAD if preload is None else preload)

    def python(self) -> str:
        return self.python_path

    @property
    def known_gaps(self) -> frozenset[str]:
        """Conformance checks this sandbox cannot pass in its mode (see ``docs/sandboxes.md``)."""
        gaps: set[str] = set()
        if self.mode == "process":
            gaps |= _PROCESS_MODE_GAPS | (_ROOT_GAPS if os.geteuid() == 0 else set())
        if not self.isolate_network:
            gaps.add("no_network")
        return frozenset(gaps)

    def run(
        self,
        cmd: Sequence[str] | str,
        cwd: Path,
        timeout: float,
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        readonly: Sequence[Path] = (),
        workdir: str = ".",
    ) -> ExecResult:
        """Run ``cmd`` in ``cwd``, the one directory it may write; ``readonly`` paths it may read.
        In confined mode the command sees nothing else of the host but system directories and
        the interpreter; ``readonly`` paths must then be readable by any user."""
        limits = limits or Limits()
        cwd = require_scratch_dir(cwd)
        start = start_dir(cwd, workdir)
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(part) for part in cmd]
        environment = sandbox_environment(cwd, self._bin_dirs, env)
        words = simple_command(cmd) if isinstance(cmd, str) else argv
        program = parse_python_command(words, self.python_path) if self.warm and words else None
        if self.mode == "process":
            if program is not None:
                result = _supervise(self._warm_starter(program, start, environment, _rlimits(limits), None), limits, timeout)
            else:
                result = _supervise(_popen_starter(self._process_argv(argv, limits), start, environment), limits, timeout)
        else:
            result = self._confined_run(argv, program, cwd, start, environment, limits, timeout, outermost(readonly))
        remove_unsafe_entries(cwd)
        return result

    def _warm_starter(
        self, program: Program, start: Path, env: Mapping[str, str], rlimits: dict, confine: dict | None
    ) -> "_Starter":
        server = warm_workers.shared_server(self.python_path, self.preload, warm_workers.server_environment())

        def begin(stdout: int, stderr: int) -> warm_workers.WarmProcess:
            return server.start(program, start, env, rlimits, stdout, stderr, self.isolate_network, confine)

        return begin

    def _process_argv(self, argv: list[str], limits: Limits) -> list[str]:
        prefix: list[str] = []
        if self.isolate_network:
            prefix += ["unshare", "--net"]
        if shutil.which("prlimit"):
            # A hard CPU limit two seconds above the soft one: SIGXCPU first, so the reason shows.
            rlimits = {
                "--cpu": f"{limits.cpu_seconds}:{limits.cpu_seconds + 2}" if limits.cpu_seconds else None,
                "--as": limits.memory_bytes,
                "--nproc": limits.processes,
                "--fsize": limits.file_size_bytes,
            }
            prefix += ["prlimit"] + [f"{flag}={value}" for flag, value in rlimits.items() if value] + ["--"]
        return prefix + argv

    def _confined_run(
        self, argv: list[str], program: Program | None, cwd: Path, start: Path, env: dict[str, str],
        limits: Limits, timeout: float, readonly: list[Path],
    ) -> ExecResult:
        with self._uids.borrow() as uid, lend(cwd, uid, uid, keep_out=readonly), \
                tempfile.TemporaryDirectory(prefix="rsigym-view-") as view_root:
            job = {
                "argv": argv,
                "env": env,
                "cwd": str(start),
                "uid": uid,
                "gid": uid,
                "rlimits": _rlimits(limits),
                "tmp_bytes": self.tmp_bytes,
                "binds": [[path, False] for path in self._visible]
                + [[str(cwd), True]]
                + [[str(path), False] for path in readonly],
                "root": view_root,
                "hidden": hidden_paths(),  # the loaded tasks' leak sources
            }
            if program is not None:
                return _supervise(self._warm_starter(program, start, env, {}, job), limits, timeout)
            return self._spawn_confined(job, limits, timeout)

    def _spawn_confined(self, job: dict, limits: Limits, timeout: float) -> ExecResult:
        namespaces = ["--mount", "--pid", "--fork", "--kill-child"] + (["--net"] if self.isolate_network else [])
        job_read, job_write = os.pipe()
        status_read, status_write = os.pipe()
        job.update(status_fd=status_write)
        argv = ["unshare", *namespaces, "--", sys.executable, "-I", "-S", str(_CONFINE_SCRIPT), str(job_read)]
        with os.fdopen(status_read, "rb") as status_stream:
            starter = _popen_starter(
                argv, Path("/"), {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                pass_fds=(job_read, status_write), job=(job_write, job),
            )
            result = _supervise(starter, limits, timeout)
            report = json.loads(status_stream.read() or b"{}")
        if "error" in report:
            message = f"sandbox setup failed: {report['error']}"
            return ExecResult(126, "", message, result.seconds, False, "start failed")
        if "status" in report and not result.timed_out:
            returncode = os.waitstatus_to_exitcode(report["status"])
            return result._replace(returncode=returncode, killed_reason=killed_reason_for(returncode, False, timeout))
        return result


def _rlimits(limits: Limits) -> dict[str, list[int]]:
    values = {
        "RLIMIT_CPU": [limits.cpu_seconds, limits.cpu_seconds + 2] if limits.cpu_seconds else None,
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_FSIZE": limits.file_size_bytes,
        "RLIMIT_CORE": 0,
    }
    pairs = {name: value if isinstance(value, list) else [value, value] for name, value in values.items()}
    return {name: pair for name, pair in pairs.items() if pair[0] is not None}


class _Process(Protocol):
    """What the supervisor needs of a started command: ``subprocess.Popen`` or a warm run."""

    pid: int
    returncode: int | None

    def wait(self, timeout: float | None = None) -> int: ...


_Starter = Callable[[int, int], _Process]  # starts a command with these stdout/stderr descriptors


def _popen_starter(
    argv: list[str], cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int] = (), job: tuple[int, dict] | None = None
) -> _Starter:
    """Start ``argv`` cold in a new session and feed it ``job`` (a descriptor and JSON) if any."""

    def begin(stdout: int, stderr: int) -> subprocess.Popen:
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True, pass_fds=pass_fds,
            )
        except OSError:
            if job is not None:
                os.close(job[0])
            raise
        finally:
            for descriptor in pass_fds:  # the child holds its own copies now
                os.close(descriptor)
        if job is not None:
            descriptor, payload = job
            with contextlib.suppress(BrokenPipeError), os.fdopen(descriptor, "wb") as stream:
                stream.write(json.dumps(payload).encode())
        return proc

    return begin


def _supervise(start: _Starter, limits: Limits, timeout: float) -> ExecResult:
    """Start a command, keep the tails of its output, and kill its whole process group when
    it ends or times out."""
    begun = time.monotonic()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        proc = start(out_write, err_write)
    except OSError as err:
        os.close(out_read)
        os.close(err_read)
        return ExecResult(127, "", f"could not start command: {err}", 0.0, False, "start failed")
    finally:
        os.close(out_write)
        os.close(err_write)
    readers = [
        _TailReader(os.fdopen(out_read, "rb", buffering=0), limits.output_bytes),
        _TailReader(os.fdopen(err_read, "rb", buffering=0), limits.output_bytes),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=max(timeout, 0.01))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc.pid)  # also reaps daemons left in the group after a normal exit
        proc.wait()
    for reader in readers:
        reader.join(timeout=5)
        if not reader.is_alive():
            reader.stream.close()
    return ExecResult(
        returncode=proc.returncode,
        stdout=readers[0].tail.text(),
        stderr=readers[1].tail.text(),
        seconds=time.monotonic() - begun,
        timed_out=timed_out,
        killed_reason=killed_reason_for(proc.returncode, timed_out, timeout),
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
