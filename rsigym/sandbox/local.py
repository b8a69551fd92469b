"""The local sandbox: the embedded default, with no engine to install.

It has two modes. ``confined`` (chosen when the process runs as root and ``unshare`` works):
the command runs in new mount, IPC, PID and network namespaces, sees only the system directories,
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
import stat
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Callable, Mapping, Protocol, Sequence

from rsigym.sandbox import gpu as gpu_passthrough
from rsigym.sandbox import warm as warm_workers
from rsigym.sandbox._confine import read_report
from rsigym.sandbox.base import ExecResult, InfraError, Limits, Sandbox, start_dir
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
from rsigym.sandbox.uid_pool import UidPool

_CONFINE_SCRIPT = Path(__file__).with_name("_confine.py")
# Gaps of process mode, named as in rsigym.sandbox.conformance.CHECKS.
_PROCESS_MODE_GAPS = frozenset(
    {"timeout", "background_processes", "readonly_paths", "confinement", "private_data_hidden",
     "ipc_private", "keyrings_private", "devices"}
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


@functools.lru_cache(maxsize=None)
def _uid_pool(base: int) -> UidPool:
    return UidPool(base)


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
        gpus: NVIDIA GPUs commands may use: ``"all"`` (every GPU the host has; none on a CPU
            machine), ``"none"``, or indices such as ``[0, 2]`` (see :mod:`rsigym.sandbox.gpu`).
            Process mode cannot hide device nodes: there ``"none"`` and a list only set
            ``CUDA_VISIBLE_DEVICES``.
        devices: more host device nodes (or folders of them) a confined command sees, each at
            ``/dev/<its name>`` (its place under ``/dev`` for a node of ``/dev``).
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
        gpus: gpu_passthrough.GpuChoice = "all",
        devices: Sequence[str | Path] = (),
    ):
        self._python_given = python  # None: the interpreter running rsigym, wherever the sandbox is rebuilt
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
        self.uid_base = uid_base
        self._uids = _uid_pool(uid_base)
        self._bin_dirs = [str(Path(self.python_path).parent)]
        self._visible = [*SYSTEM_DIRS, *_interpreter_dirs(self.python_path)] if confine else []
        self.warm = bool(warm)
        self.preload = tuple(warm_workers.DEFAULT_PRELOAD if preload is None else preload)
        self._gpus_given = gpu_passthrough.parse_gpus(gpus)
        self._devices_given = tuple(map(str, devices))
        self.gpu = gpu_passthrough.discover(gpus)
        self._devices = tuple(dict.fromkeys([*self._devices_given, *self.gpu.devices]))
        if confine:
            self._visible += [folder for folder in self.gpu.library_dirs if not _under_system_dirs(folder)]

    def devices(self) -> tuple[str, ...]:
        """Host device paths passed to commands (GPU nodes included), beyond the standard few."""
        return self._devices

    def settings(self) -> dict[str, object]:
        """The arguments as resolved here: the mode and network isolation ``"auto"`` chose stay
        chosen, so a rebuilt sandbox confines as this one does (or fails to start where it cannot)."""
        return {
            "isolate_network": self.isolate_network,
            "python": self._python_given,
            "confine": self.mode == "confined",
            "uid_base": self.uid_base,
            "tmp_bytes": self.tmp_bytes,
            "warm": self.warm,
            "preload": list(self.preload),
            "gpus": self._gpus_given if isinstance(self._gpus_given, str) else list(self._gpus_given),
            "devices": list(self._devices_given),
        }

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
        environment = sandbox_environment(cwd, self._bin_dirs, {**self._gpu_environment(cwd), **(env or {})})
        words = simple_command(cmd) if isinstance(cmd, str) else argv
        program = parse_python_command(words, self.python_path) if self.warm and words else None
        if self.mode == "process":
            if program is not None:
                result = _supervise(self._warm_starter(program, start, environment, _rlimits(limits), None), limits, timeout)
                if result.killed_reason == WORKER_LOST:  # a run of the caller's own uid can kill the server itself
                    result = result._replace(killed_reason="killed")
            else:
                result = _supervise(_popen_starter(self._process_argv(argv, limits), start, environment), limits, timeout)
        else:
            result = self._confined_run(argv, program, cwd, start, environment, limits, timeout, outermost(readonly))
        remove_unsafe_entries(cwd)
        if self.gpu.enabled and self.mode == "process":
            shutil.rmtree(cwd / _PROCESS_TRITON_CACHE, ignore_errors=True)
        return result

    def _gpu_environment(self, cwd: Path) -> dict[str, str]:
        """CUDA's variables, and a Triton cache of the run's own (the private ``/tmp`` of a
        confined run; a folder in ``cwd``, removed afterwards, in process mode)."""
        if not self.gpu.enabled:
            return dict(self.gpu.env)
        cache = _CONFINED_TRITON_CACHE if self.mode == "confined" else str(cwd / _PROCESS_TRITON_CACHE)
        return {**self.gpu.env, "TRITON_CACHE_DIR": cache}

    def _device_job(self) -> dict:
        """The confined job's part about devices (see ``_confine._bind_devices``)."""
        groups = set()
        for path in self._devices:
            for node in _device_nodes(path):
                info = os.stat(node)
                if info.st_mode & 0o006 != 0o006 and info.st_gid != 0:  # the uid opens it through its group
                    groups.add(info.st_gid)
        return {
            "devices": list(self._devices),
            "device_targets": [gpu_passthrough.device_name_in_sandbox(path) for path in self._devices],
            "device_groups": sorted(groups),
            "sysfs": self.gpu.enabled,
        }

    def _warm_starter(
        self, program: Program, start: Path, env: Mapping[str, str], rlimits: dict, confine: dict | None
    ) -> "_Starter":
        server_env = {**warm_workers.server_environment(), **self.gpu.loader_env}  # the loader reads it at start only
        server = warm_workers.shared_server(self.python_path, self.preload, server_env)

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
        with self._uids.borrow(keep=[cwd]) as uid, lend(cwd, uid, uid, keep_out=readonly), \
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
                **self._device_job(),
                "hidden": hidden_paths(),  # the loaded tasks' leak sources
            }
            if program is not None:
                result = _supervise(self._warm_starter(program, start, env, {}, job), limits, timeout)
                if result.killed_reason == WORKER_LOST:  # another uid in its own pid namespace: not the run's doing
                    raise InfraError("the warm worker server died during the run (killed from outside: an operator "
                                     "or the host's OOM killer)")
                return result
            return self._spawn_confined(job, limits, timeout)

    def _spawn_confined(self, job: dict, limits: Limits, timeout: float) -> ExecResult:
        namespaces = ["--mount", "--ipc", "--pid", "--fork", "--kill-child"] + (["--net"] if self.isolate_network else [])
        job_read, job_write = os.pipe()
        status_read, status_write = os.pipe()
        job.update(status_fd=status_write)
        argv = ["unshare", *namespaces, "--", sys.executable, "-I", "-S", str(_CONFINE_SCRIPT), str(job_read)]
        starter = _popen_starter(
            argv, Path("/"), {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            pass_fds=(job_read, status_write), job=(job_write, job),
        )
        try:
            result = _supervise(starter, limits, timeout)
        finally:
            report = read_report(status_read)
        if "error" in report:
            message = f"sandbox setup failed: {report['error']}"
            return ExecResult(126, "", message, result.seconds, False, "start failed")
        if "status" in report and not result.timed_out:
            returncode = os.waitstatus_to_exitcode(report["status"])
            return result._replace(returncode=returncode, killed_reason=killed_reason_for(returncode, False, timeout))
        return result


# The killed_reason of a warm run whose server died before reporting its status.
WORKER_LOST = "warm worker server lost"
_CONFINED_TRITON_CACHE = "/tmp/triton-cache"
_PROCESS_TRITON_CACHE = ".rsigym-triton-cache"


def _under_system_dirs(folder: str) -> bool:
    return any(Path(folder).is_relative_to(system) for system in SYSTEM_DIRS)


def _device_nodes(path: str) -> list[str]:
    """``path`` if it is a device node, the nodes under it if it is a folder (``/dev/dri``)."""
    if os.path.isdir(path):
        return [os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
                if stat.S_ISCHR(os.lstat(os.path.join(folder, name)).st_mode)]
    return [path] if os.path.exists(path) else []


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
        killed_reason=WORKER_LOST if getattr(proc, "server_lost", False) else killed_reason_for(
            proc.returncode, timed_out, timeout),
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
