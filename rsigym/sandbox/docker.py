"""The docker sandbox: each command in a fresh container, through the ``docker`` SDK.

A container gets no network, its own IPC namespace, memory / CPU / pids limits and rlimits for CPU time and file
size, a non-root user with no capabilities and ``no-new-privileges``, a read-only root file
system with a private ``/tmp``, and mounts of ``cwd`` read-write and of ``readonly``
read-only, at their host paths, so the paths in a task's environment variables
hold inside too. Nothing else from the host is visible: private task data and graders are
not mounted, so they are not there. The container is removed on every way out of ``run``;
containers orphaned by a killed caller are removed by the next ``DockerSandbox`` made on
that host. Build the image with ``docker/build_image.sh`` (see ``docs/sandboxes.md``).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

import requests
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

import docker
from rsigym.sandbox import gpu as gpu_passthrough
from rsigym.sandbox.base import ExecResult, InfraError, Limits, Sandbox, start_dir
from rsigym.sandbox.common import (
    OutputTail,
    killed_reason_for,
    lend,
    outermost,
    process_alive,
    remove_unsafe_entries,
    require_scratch_dir,
    sandbox_environment,
)

DEFAULT_IMAGE = "rsigym-sandbox:latest"
NOBODY = 65534  # the container user when the caller is root
_LABEL = "rsigym.sandbox"


def engine_problem(client: docker.DockerClient | None = None) -> str | None:
    """Why no Docker engine can be used from here, or ``None`` when one answers."""
    try:
        (client or docker.from_env()).ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        return f"no Docker engine reachable ({err})"
    return None


class DockerSandbox(Sandbox):
    """Runs each command in a new locked-down container of ``image``.

    Args:
        image: image holding the solution runtime; defaults to ``$RSIGYM_SANDBOX_IMAGE``
            or ``rsigym-sandbox:latest``.
        cpus: CPU share of one container (cores; ``None``: no quota).
        python: interpreter inside the image.
        tmp_bytes: size of the container's ``/tmp`` and ``/dev/shm``.
        client: a ``docker.DockerClient``; defaults to one from the environment.
        gpus: NVIDIA GPUs a container gets: ``"all"`` (every GPU this host has; none on a CPU
            machine), ``"none"``, or indices such as ``[0, 2]``. Needs NVIDIA's container
            runtime registered with the engine; without it a GPU request raises ``RuntimeError``.
        devices: more host device nodes a container sees, each at ``/dev/<its name>``.
    """

    name = "docker"
    integrity = "strong"  # only the mounts are visible; the image is built without leak sources

    def __init__(
        self,
        image: str | None = None,
        cpus: float | None = 2.0,
        python: str = "python3",
        tmp_bytes: int = 256 * 1024**2,
        client: docker.DockerClient | None = None,
        gpus: gpu_passthrough.GpuChoice = "all",
        devices: Sequence[str | Path] = (),
    ):
        self.image = image or os.environ.get("RSIGYM_SANDBOX_IMAGE", DEFAULT_IMAGE)
        problem = engine_problem(client)
        if problem:
            raise RuntimeError(f"{problem}; start dockerd, or use the local sandbox")
        self.client = client or docker.from_env()
        try:
            image_env = self.client.images.get(self.image).attrs["Config"].get("Env") or []
        except docker.errors.ImageNotFound:
            raise RuntimeError(f"image {self.image!r} not found; build it with docker/build_image.sh") from None
        path = next((item[5:] for item in image_env if item.startswith("PATH=")), "")
        self._bin_dirs = [folder for folder in path.split(":") if folder]
        self._cpus_given = cpus  # the share asked for; each host caps it at its own core count
        self.cpus = min(cpus, os.cpu_count() or 1) if cpus else None
        self.python_path = python
        self.tmp_bytes = tmp_bytes
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._devices = tuple(str(path) for path in devices)
        choice = gpu_passthrough.parse_gpus(gpus)
        self._gpus_given = choice
        self._gpu_request = self._gpu_device_request(choice)
        # The nodes NVIDIA's runtime adds (its own choice; /dev/dri is not among them).
        self._gpu_nodes = tuple(
            path for path in gpu_passthrough.discover(choice).devices if not path.endswith("/dri")
        ) if self._gpu_request is not None else ()
        self._remove_orphans()

    def devices(self) -> tuple[str, ...]:
        """Host device paths containers see: those given, and the GPU nodes NVIDIA's runtime adds."""
        return self._devices + self._gpu_nodes

    def settings(self) -> dict[str, object]:
        """Every argument but ``client`` (a rebuilt sandbox connects from its own environment);
        ``image`` as resolved, so a rebuilt sandbox runs the same image whatever its environment says."""
        return {
            "image": self.image,
            "cpus": self._cpus_given,
            "python": self.python_path,
            "tmp_bytes": self.tmp_bytes,
            "gpus": self._gpus_given if isinstance(self._gpus_given, str) else list(self._gpus_given),
            "devices": list(self._devices),
        }

    def _gpu_device_request(self, choice: str | tuple[int, ...]) -> DeviceRequest | None:
        """The GPU request of every container: all of this host's GPUs, the listed ones, or none."""
        if choice == "none" or (choice == "all" and not gpu_passthrough.host_has_gpu()):
            return None
        runtimes = self.client.info().get("Runtimes") or {}
        if "nvidia" not in runtimes:
            raise RuntimeError(
                f"GPUs asked for (gpus={choice!r}), but the Docker engine has no NVIDIA runtime (runtimes: "
                f"{sorted(runtimes)}); install nvidia-container-toolkit and run `nvidia-ctk runtime configure "
                "--runtime=docker` then restart dockerd, or pass gpus=\"none\""
            )
        if choice == "all":
            return DeviceRequest(count=-1, capabilities=[["gpu"]])
        return DeviceRequest(device_ids=[str(index) for index in choice], capabilities=[["gpu"]])

    def python(self) -> str:
        return self.python_path

    def close(self) -> None:
        self.client.close()

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
        """Run ``cmd`` in a new container, in ``cwd`` mounted read-write, with ``readonly``
        mounted read-only, both at their host paths; it starts in ``cwd``/``workdir``."""
        limits = limits or Limits()
        cwd = require_scratch_dir(cwd)
        start = start_dir(cwd, workdir)
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(part) for part in cmd]
        readonly_roots = outermost(readonly)
        mounts = [Mount(str(cwd), str(cwd), type="bind")]
        mounts += [Mount(str(path), str(path), type="bind", read_only=True) for path in readonly_roots]
        config = self._container_config(limits, mounts)
        config.update(command=argv, working_dir=str(start), environment=sandbox_environment(cwd, self._bin_dirs, env))
        if os.geteuid() != 0:  # a non-root caller's own uid is unprivileged and owns cwd already
            config["user"] = f"{os.getuid()}:{os.getgid()}"
            result = self._run_container(config, limits, timeout)
        else:
            config["user"] = f"{NOBODY}:{NOBODY}"
            with lend(cwd, NOBODY, NOBODY, keep_out=readonly_roots):
                result = self._run_container(config, limits, timeout)
        remove_unsafe_entries(cwd)
        return result

    def _container_config(self, limits: Limits, mounts: list[Mount]) -> dict:
        ulimits = [Ulimit(name="core", soft=0, hard=0)]
        if limits.cpu_seconds:  # hard limit 2 s later: SIGXCPU first, so the reason shows
            ulimits.append(Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 2))
        if limits.file_size_bytes:
            ulimits.append(Ulimit(name="fsize", soft=limits.file_size_bytes, hard=limits.file_size_bytes))
        config = dict(
            image=self.image,
            mounts=mounts,
            network_mode="none",
            ipc_mode="private",  # System V IPC of its own, gone with the container
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmp_bytes},mode=1777"},
            shm_size=self.tmp_bytes,
            ulimits=ulimits,
            init=True,  # an init as PID 1 passes signals and deaths through faithfully
            log_config=LogConfig(type="none"),  # output is read live, never stored on disk
            labels={_LABEL: "1", f"{_LABEL}.owner": self._owner},
            hostname="sandbox",
        )
        if limits.memory_bytes:
            config.update(mem_limit=limits.memory_bytes, memswap_limit=limits.memory_bytes)
        if limits.processes:
            config["pids_limit"] = limits.processes
        if self.cpus:
            config["nano_cpus"] = int(self.cpus * 1e9)
        config.update(self._device_config())
        return config

    def _device_config(self) -> dict:
        """Extra devices at ``/dev/<name>`` (their groups added, so the container user opens
        them), and the GPU request."""
        config: dict = {}
        if self._devices:
            config["devices"] = [f"{path}:{gpu_passthrough.device_name_in_sandbox(path)}:rw" for path in self._devices]
            groups = {os.stat(path).st_gid for path in self._devices if os.stat(path).st_mode & 0o006 != 0o006}
            config["group_add"] = [str(gid) for gid in sorted(groups - {0})]
        if self._gpu_request is not None:
            config["device_requests"] = [self._gpu_request]
        return config

    def _run_container(self, config: dict, limits: Limits, timeout: float) -> ExecResult:
        try:
            container = self.client.containers.create(**config)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise InfraError(f"the Docker engine could not create the container: {err}") from err
        try:
            tails = (OutputTail(limits.output_bytes), OutputTail(limits.output_bytes))
            stream = self.client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
            reader = threading.Thread(target=_drain, args=(stream, tails), daemon=True)
            reader.start()
            start, started_at = time.monotonic(), time.time()
            try:
                container.start()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
                raise InfraError(f"the Docker engine could not start the container: {err}") from err
            timed_out = False
            try:
                try:
                    status = container.wait(timeout=max(timeout, 0.01))
                except requests.exceptions.RequestException as err:  # the read timed out: so did the command
                    if engine_problem(self.client):  # unless the engine itself went away
                        raise
                    timed_out = True
                    with contextlib.suppress(docker.errors.APIError):  # it may have exited meanwhile
                        container.kill()
                    status = container.wait()
                seconds = time.monotonic() - start
                reader.join(timeout=5)
                container.reload()
                oom_killed = container.attrs["State"].get("OOMKilled", False)
                signal_sent = "" if timed_out or oom_killed or status["StatusCode"] <= 128 else \
                    self._kill_sent(container.id, started_at)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
                raise InfraError(f"the Docker engine went away during the run: {err}") from err
            if signal_sent:
                raise InfraError(f"the container was killed from outside (signal {signal_sent} sent through the engine)")
        finally:
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):  # engine gone
                container.remove(force=True)
        returncode = _popen_style(status["StatusCode"])
        reason = "memory limit" if oom_killed else killed_reason_for(returncode, timed_out, timeout)
        return ExecResult(returncode, tails[0].text(), tails[1].text(), seconds, timed_out, reason)

    def _kill_sent(self, container_id: str, since: float) -> str:
        """The signal of a ``kill`` the engine delivered to the container since ``since`` (an
        operator's ``docker kill``, the engine stopping): only the engine's own event log
        counts, which nothing inside a container can write to. ``""`` when there was none."""
        # Whole seconds (the engine reads a fraction as nanoseconds); the end rounded up, so an event
        # of this very second is in (the stream waits for it to pass: at most a second).
        events = self.client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                    filters={"container": container_id, "event": "kill"})
        try:
            for event in events:
                return str(event.get("Actor", {}).get("Attributes", {}).get("signal", "?"))
        finally:
            events.close()
        return ""

    def _remove_orphans(self) -> None:
        """Remove containers that sandboxes of dead processes on this host left behind."""
        host = socket.gethostname()
        for container in self.client.containers.list(all=True, filters={"label": _LABEL}):
            owner_host, _, pid = container.labels.get(f"{_LABEL}.owner", "").rpartition(":")
            if owner_host == host and pid.isdigit() and not process_alive(int(pid)):
                with contextlib.suppress(docker.errors.APIError):
                    container.remove(force=True)


def _drain(stream, tails: tuple[OutputTail, OutputTail]) -> None:
    with contextlib.suppress(requests.exceptions.RequestException, OSError):
        for stdout, stderr in stream:
            if stdout:
                tails[0].add(stdout)
            if stderr:
                tails[1].add(stderr)


def _popen_style(status: int) -> int:
    """Docker reports death by signal N as 128 + N; turn that into ``-N`` as ``subprocess`` does."""
    if status > 128:
        with contextlib.suppress(ValueError):
            return -signal.Signals(status - 128).value
    return status


