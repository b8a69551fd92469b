"""GPU passthrough: the NVIDIA device nodes, driver libraries and variables a sandboxed run needs.

:func:`discover` looks at the host once and returns a :class:`GpuPassthrough`: the device
nodes to show in the run's ``/dev`` (``nvidia0..N`` as chosen, ``nvidiactl``, ``nvidia-uvm``,
``nvidia-uvm-tools``, ``nvidia-modeset`` and ``/dev/dri`` where present), the
folders holding the driver's user-space libraries (``libcuda.so.1`` and its siblings) and the
variables CUDA and Triton read. Providers feed the device nodes to their general "extra
devices" mechanism (``LocalSandbox(devices=...)``, ``DockerSandbox(devices=...)``), so the
same code path is exercised on a CPU machine with a node a test makes itself.

The ``gpus`` option of the providers: ``"all"`` (the default: every GPU the host has, so none
on a CPU machine), ``"none"``, or a list of indices (``[0, 2]`` or ``"0,2"``) as
``nvidia-smi`` numbers them (the device minor numbers, ``/dev/nvidiaN``).
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

GpuChoice = Union[str, Sequence[int]]
# Control nodes every CUDA process opens besides its GPUs' own ``nvidiaN``; absent ones are skipped.
# (``nvidia-caps``, MIG's capability nodes, is root-only and left out.)
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "dri")
# Where driver libraries live when the loader cache does not list them: mounts made by NVIDIA's
# container runtime and device plugins, and WSL's driver folder.
DRIVER_MOUNTS = ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib")
# Host variables that describe the GPUs to NVIDIA's tools and CUDA; passed through as they are.
PASSED_VARIABLES = ("CUDA_DEVICE_ORDER", "CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY")
_GPU_NODE = re.compile(r"nvidia(\d+)")


@dataclass(frozen=True)
class GpuPassthrough:
    """What a sandbox must pass so that CUDA works inside: nothing when ``indices`` is empty."""

    indices: tuple[int, ...] = ()  # GPUs passed, by device minor number
    devices: tuple[str, ...] = ()  # host device paths (nodes and folders such as /dev/dri)
    library_dirs: tuple[str, ...] = ()  # driver library folders the run must see (read-only)
    env: dict[str, str] = field(default_factory=dict)  # variables for the run
    loader_env: dict[str, str] = field(default_factory=dict)  # variables a process needs from its start (LD_LIBRARY_PATH)

    @property
    def enabled(self) -> bool:
        return bool(self.indices)


def parse_gpus(gpus: GpuChoice | None) -> str | tuple[int, ...]:
    """``"all"``, ``"none"`` or a tuple of indices from the forms the ``gpus`` option accepts."""
    if gpus is None:
        return "none"
    if isinstance(gpus, str):
        text = gpus.strip().lower()
        if text in ("all", "none"):
            return text
        if text == "":
            return "none"
        try:
            return tuple(int(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"gpus must be 'all', 'none' or indices like '0,2', not {gpus!r}") from None
    indices = tuple(int(index) for index in gpus)
    if any(index < 0 for index in indices):
        raise ValueError(f"GPU indices must be >= 0, not {list(indices)}")
    return indices


def gpu_indices(dev_root: str = "/dev") -> list[int]:
    """Minor numbers of the NVIDIA GPU nodes (``nvidiaN``) under ``dev_root``."""
    try:
        names = os.listdir(dev_root)
    except OSError:
        return []
    return sorted(int(match.group(1)) for name in names if (match := _GPU_NODE.fullmatch(name)))


def host_has_gpu(dev_root: str = "/dev") -> bool:
    """Whether this host shows an NVIDIA GPU (a ``/dev/nvidiaN`` node next to ``nvidiactl``)."""
    return bool(gpu_indices(dev_root)) and os.path.exists(os.path.join(dev_root, "nvidiactl"))


def discover(gpus: GpuChoice | None = "all", dev_root: str = "/dev", proc_root: str = "/proc") -> GpuPassthrough:
    """What to pass for the ``gpus`` choice on this host (``dev_root``/``proc_root`` for tests).

    ``"all"`` on a host without GPUs is nothing; asking for an index the host does not have
    raises ``ValueError``."""
    choice = parse_gpus(gpus)
    present = gpu_indices(dev_root) if os.path.exists(os.path.join(dev_root, "nvidiactl")) else []
    if choice == "none" or (choice == "all" and not present):
        return GpuPassthrough(env={"CUDA_VISIBLE_DEVICES": ""} if present else {})
    indices = tuple(present) if choice == "all" else tuple(choice)
    missing = sorted(set(indices) - set(present))
    if missing:
        raise ValueError(f"GPU(s) {missing} asked for, but this host has {present or 'no NVIDIA GPU'} under {dev_root}")
    devices = [os.path.join(dev_root, f"nvidia{index}") for index in indices]
    devices += [os.path.join(dev_root, name) for name in CONTROL_NODES if os.path.exists(os.path.join(dev_root, name))]
    env = {name: os.environ[name] for name in os.environ if name.startswith("NVIDIA_") or name in PASSED_VARIABLES}
    if choice == "all":
        if "CUDA_VISIBLE_DEVICES" in os.environ:  # a scheduler's choice for this process holds inside too
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    else:
        # CUDA numbers GPUs its own way; in PCI bus order its numbers follow the buses, which
        # /proc/driver/nvidia/gpus maps to minor numbers.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        ranks = pci_ranks(proc_root)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(ranks.get(index, index)) for index in indices)
    library_dirs = driver_library_dirs()
    loader_cached = set(_loader_cache_dirs())
    uncached = [folder for folder in library_dirs if folder not in loader_cached]
    loader_env = {"LD_LIBRARY_PATH": ":".join(uncached)} if uncached else {}
    if library_dirs:
        env["TRITON_LIBCUDA_PATH"] = library_dirs[0]
    return GpuPassthrough(indices, tuple(devices), tuple(library_dirs), {**env, **loader_env}, loader_env)


def pci_ranks(proc_root: str = "/proc") -> dict[int, int]:
    """``{minor number: position in PCI bus order}`` from ``/proc/driver/nvidia/gpus/*/information``."""
    folder = Path(proc_root, "driver", "nvidia", "gpus")
    minors: dict[str, int] = {}
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        with_minor = re.search(r"Device Minor:\s*(\d+)", _read(entry / "information"))
        if with_minor:
            minors[entry.name.lower()] = int(with_minor.group(1))
    return {minor: rank for rank, (_, minor) in enumerate(sorted(minors.items()))}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def driver_library_dirs() -> list[str]:
    """Folders holding the driver's ``libcuda.so.1``: where this process loaded it from, what
    the loader cache lists, ``LD_LIBRARY_PATH`` and the usual driver mounts (stub libraries of
    a CUDA toolkit, which cannot talk to a GPU, are left out)."""
    found = [*_loaded_libcuda_dirs(), *_loader_cache_dirs()]
    found += [folder for folder in os.environ.get("LD_LIBRARY_PATH", "").split(":") if folder]
    found += list(DRIVER_MOUNTS)
    real = [os.path.realpath(folder) for folder in found]
    return [
        folder for folder in dict.fromkeys(real)
        if "stubs" not in Path(folder).parts and os.path.exists(os.path.join(folder, "libcuda.so.1"))
    ]


def _loaded_libcuda_dirs() -> list[str]:
    """Folders of the ``libcuda`` this process has mapped (after CUDA started here)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = [line.split(None, 5)[-1] for line in maps.splitlines() if len(line.split(None, 5)) == 6]
    return [os.path.dirname(path) for path in dict.fromkeys(paths) if os.path.basename(path).startswith("libcuda.so")]


@functools.lru_cache(maxsize=None)
def _loader_cache_dirs() -> tuple[str, ...]:
    """Folders the dynamic loader's cache (``ldconfig -p``) lists ``libcuda.so.1`` in."""
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        return tuple(dict.fromkeys(
            os.path.realpath(os.path.dirname(line.split("=>")[-1].strip()))
            for line in listing.splitlines() if "libcuda.so.1 " in line and "=>" in line
        ))
    return ()


def device_name_in_sandbox(host_path: str) -> str:
    """Where a passed device appears inside a sandbox: its place under ``/dev`` for a node of
    ``/dev``, else ``/dev/<its name>``."""
    path = os.path.normpath(host_path)
    relative = os.path.relpath(path, "/dev") if path.startswith("/dev/") else os.path.basename(path)
    return "/dev/" + relative
