"""In-harness checks that a forward pass really runs Triton kernels and plays fair.

These run inside the sandboxed harness process, next to the solution module; they catch the
hacks a solution can make without attacking the harness itself (see docs/kernels.md for what
they cannot catch):

* :class:`LaunchMonitor` wraps every Triton launch: it counts launches, records their
  specialisation for the compile check and, in *ghost* mode, turns them into no-ops.
* :class:`AtenRecorder` is a dispatch mode that lets allocation, view and copy ops through and
  records every other aten op (the compute a solution must do in Triton). It also poisons fresh
  allocations with NaN, so a kernel that skips elements or a ghost run cannot look correct.
* :class:`TamperGuard` remembers clocks, synchronisation, comparison and harness functions
  before the solution is imported and reports any that were replaced afterwards.
"""
from __future__ import annotations

import importlib
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from triton.runtime.autotuner import Autotuner
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

from .ttir import LaunchSignature, describe_launch

# Ops that allocate, reshape, view or copy memory: what a Triton solution may call in torch.
ALLOWED_OPS = frozenset(
    """empty empty_strided empty_like new_empty new_empty_strided zeros zeros_like new_zeros ones ones_like
    new_ones full full_like new_full fill_ zero_ arange view _unsafe_view reshape _reshape_alias as_strided t
    transpose permute expand expand_as squeeze unsqueeze select slice split split_with_sizes unbind chunk
    narrow detach alias clone contiguous copy_ _to_copy lift_fresh unflatten flatten view_as resize_ set_""".split()
)
# Ops whose result carries its argument's data along (for tracing inputs into kernel launches).
CARRY_OPS = ALLOWED_OPS - frozenset("empty empty_strided new_empty new_empty_strided zeros new_zeros ones new_ones full new_full arange fill_ zero_".split())
# Host-side views of tensor memory that would let numpy or Python do the work unseen.
HOST_ACCESS = ("numpy", "__array__", "tolist", "__dlpack__")
# Ways to run work where the (thread-local) dispatch mode cannot see it.
ESCAPES = (("threading.Thread", "start"), ("_thread", "start_new_thread"), ("os", "fork"), ("subprocess.Popen", "__init__"))
# What the Triton interpreter itself calls while it runs a kernel (it stages arguments through host copies).
INTERPRETER_OPS = frozenset("empty new_empty set_ copy_ _to_copy alias detach view as_strided lift_fresh".split())
UNINITIALISED_ALLOCATORS = frozenset("empty empty_strided empty_like new_empty new_empty_strided".split())
INT_POISON = -0x5EED

# Functions a solution could replace to forge timing, seeds or comparisons.
WATCHED = (
    "time.perf_counter", "time.perf_counter_ns", "time.monotonic", "time.monotonic_ns", "time.time",
    "time.process_time", "os.urandom", "random.getrandbits",
    "torch.allclose", "torch.equal", "torch.isfinite", "torch.Tensor.copy_",
    "torch.Tensor.clone", "torch.Tensor.cpu", "torch.Tensor.to", "torch.Tensor.data_ptr",
    "torch.Tensor.untyped_storage", "torch.Tensor.__torch_function__", "torch.Tensor.__torch_dispatch__",
    "torch.cuda.synchronize", "torch.cuda.Event", "torch.cuda.current_stream", "torch._C._cuda_synchronize",
    "torch.utils._python_dispatch.TorchDispatchMode.__enter__",
    "torch.utils._python_dispatch.TorchDispatchMode.__exit__",
    "triton.testing.do_bench", "triton.runtime.jit.JITFunction.run",
    "triton.runtime.jit.KernelInterface.__getitem__",
    "triton.runtime.interpreter.InterpretedFunction.run", "triton.runtime.autotuner.Autotuner.run",
    "safetensors.torch.save_file", "json.dumps", "threading.enumerate",
)


class LaunchMonitor:
    """Wraps ``JITFunction.run`` and ``InterpretedFunction.run``: counts, describes or skips launches."""

    def __init__(self) -> None:
        self.launches = 0
        self.depth = 0  # > 0 while a kernel runs (the interpreter's own aten ops are then expected)
        self.ghost = False  # launches become no-ops
        self.describe = False  # record each launch's specialisation (for the compile check)
        self.signatures: dict[tuple, LaunchSignature] = {}
        self.describe_errors: list[str] = []
        self.storages: set[int] = set()  # storages passed to launches since the last reset
        self.stream: int | None = None  # on a GPU, the stream forward was called on
        self.side_stream_launches = 0
        self.tuning = 0  # > 0 while Triton's autotuner benchmarks configs (its own torch calls are fine)

    def install(self) -> None:
        for cls in (JITFunction, InterpretedFunction):
            cls.run = self._wrap(cls.run)
        Autotuner._bench = self._wrap_tuning(Autotuner._bench)

    def uninstall(self) -> None:
        """Put the original functions back (the harness never does; tests that install one do)."""
        for cls, attr in ((JITFunction, "run"), (InterpretedFunction, "run"), (Autotuner, "_bench")):
            while hasattr(getattr(cls, attr), "__wrapped__"):
                setattr(cls, attr, getattr(cls, attr).__wrapped__)

    def _wrap_tuning(self, original):
        monitor = self

        def bench(*args, **kwargs):
            monitor.tuning += 1
            try:
                return original(*args, **kwargs)
            finally:
                monitor.tuning -= 1

        bench.__wrapped__ = original
        return bench

    def _wrap(self, original):
        monitor = self

        def run(kernel, *args, **kwargs):
            if kwargs.get("warmup"):
                return original(kernel, *args, **kwargs)
            monitor.launches += 1
            monitor.storages.update(_storages((args, kwargs)))
            if monitor.stream is not None and torch.cuda.current_stream().cuda_stream != monitor.stream:
                monitor.side_stream_launches += 1
            if monitor.describe:
                monitor._describe(kernel, args, kwargs)
            if monitor.ghost:
                return None
            monitor.depth += 1
            try:
                return original(kernel, *args, **kwargs)
            finally:
                monitor.depth -= 1

        run.__wrapped__ = original
        return run

    def _describe(self, kernel: Any, args: tuple, kwargs: dict) -> None:
        launch_kwargs = {k: v for k, v in kwargs.items() if k not in ("grid", "warmup")}
        try:
            launch = describe_launch(kernel, args, launch_kwargs)
        except Exception as err:  # noqa: BLE001 - an unusual argument is reported, not fatal
            self.describe_errors.append(f"cannot describe a launch of {getattr(kernel, '__name__', kernel)}: {err}")
            return
        self.signatures.setdefault((launch.fn, launch.signature, _hashable(launch.constexprs)), launch)


def _storages(value: Any) -> Iterable[int]:
    """Storage addresses of the tensors in a (nested) argument list."""
    return (tensor.untyped_storage().data_ptr() for tensor in _tensors(value))


def _hashable(items: Iterable) -> tuple:
    return tuple((name, repr(value)) for name, value in items)


class AtenRecorder(TorchDispatchMode):
    """Watches one forward pass.

    Records aten ops outside the allow-list and host-side reads of tensor memory, fills fresh
    allocations with NaN (or a sentinel), and traces which input tensors (or copies and views of
    them) reach a Triton launch: every input must, or the kernels did not compute the output.
    """

    def __init__(self, monitor: LaunchMonitor, inputs: Iterable[Any] = (), poison: bool = True):
        super().__init__()
        self.monitor = monitor
        self.poison = poison
        self.violations: Counter[str] = Counter()
        self.inputs = [x for x in inputs if isinstance(x, torch.Tensor)]
        self.carried: dict[int, set[int]] = {}
        for index, tensor in enumerate(self.inputs):
            self.carried.setdefault(tensor.untyped_storage().data_ptr(), set()).add(index)
        self._saved: list[tuple[Any, str, Any]] = []

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # never compiled; the default wraps __torch_dispatch__ and imports torch._dynamo (seconds)

    def __enter__(self):
        self.monitor.storages = set()
        # Host access stays blocked inside kernels too: the interpreter never needs it, but a
        # @triton.constexpr_function called from a kernel body runs arbitrary Python there.
        blocked = [(torch.Tensor, attr, f"Tensor.{attr}", False) for attr in HOST_ACCESS]
        blocked += [(_resolve_owner(owner), attr, f"{owner}.{attr}", True) for owner, attr in ESCAPES]
        for owner, attr, label, inside_kernels in blocked:
            self._saved.append((owner, attr, vars(owner).get(attr)))  # None: inherited from a base class
            setattr(owner, attr, self._block(label, getattr(owner, attr), inside_kernels))
        return super().__enter__()

    def __exit__(self, *exc):
        for owner, attr, own in reversed(self._saved):
            if own is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, own)
        self._saved.clear()
        return super().__exit__(*exc)

    def _block(self, label: str, original, inside_kernels: bool):
        recorder = self

        def blocked(*args, **kwargs):
            if recorder.monitor.depth > 0 and inside_kernels:
                return original(*args, **kwargs)
            recorder.violations[label] += 1
            raise RuntimeError(f"{label} is not allowed in forward: do the work in Triton kernels")

        return blocked

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        inside_kernel = self.monitor.depth > 0
        kwargs = kwargs or {}
        if self.monitor.tuning:
            return func(*args, **kwargs)
        if name not in (INTERPRETER_OPS if inside_kernel else ALLOWED_OPS) or _changes_device(name, args, kwargs):
            self.violations[f"aten.{name}"] += 1
        result = func(*args, **kwargs)
        if inside_kernel:
            return result
        if self.poison and name in UNINITIALISED_ALLOCATORS and isinstance(result, torch.Tensor):
            poison(result)
        if name in CARRY_OPS:
            sources = set().union(*(self.carried.get(p, set()) for p in _storages((args, kwargs))))
            if sources:
                for pointer in _storages(result):
                    self.carried.setdefault(pointer, set()).update(sources)
        return result

    def unused_inputs(self) -> list[int]:
        """Indices of input tensors that never reached a Triton launch, even as a copy or view."""
        reached = set().union(*(self.carried.get(p, set()) for p in self.monitor.storages))
        return [i for i in range(len(self.inputs)) if i not in reached]


def _changes_device(name: str, args: tuple, kwargs: dict) -> bool:
    """A copy between devices: on a GPU, ``x.cpu()`` would let the host compute unseen."""
    devices = {t.device for t in _tensors((args, kwargs))}
    if "device" in kwargs and kwargs["device"] is not None:
        devices.add(torch.device(kwargs["device"]))
    return name in ("_to_copy", "copy_") and len({d.type for d in devices}) > 1


def _tensors(value: Any) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(getattr(value, "base", None), torch.Tensor):  # Triton tensor descriptors
        yield value.base


def poison(tensor: torch.Tensor) -> None:
    """Fill with NaN (or an unlikely integer) so unwritten elements cannot pass as results."""
    if tensor.numel() == 0:
        return
    if tensor.is_floating_point() or tensor.is_complex():
        tensor.fill_(float("nan"))
    elif tensor.dtype != torch.bool:
        tensor.fill_(INT_POISON if torch.iinfo(tensor.dtype).min < 0 else torch.iinfo(tensor.dtype).max)


def _resolve_owner(dotted: str) -> Any:
    module, _, attr = dotted.partition(".")
    owner = importlib.import_module(module)
    return getattr(owner, attr) if attr else owner


def _resolve(dotted: str) -> tuple[Any, str] | None:
    """``(owner, attribute)`` for a dotted name such as ``torch.cuda.Event``, or ``None`` if absent."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:-1]:
                owner = getattr(owner, attr)
            getattr(owner, parts[-1])
        except AttributeError:
            return None
        return owner, parts[-1]
    return None


class TamperGuard:
    """Snapshot of watched functions, and of whole modules' globals and classes; :meth:`changes` lists what moved."""

    def __init__(self, names: Iterable[str] = WATCHED, modules: Iterable[ModuleType] = ()):
        self._entries: list[tuple[str, Any, str, Any]] = []
        for dotted in names:
            found = _resolve(dotted)
            if found:
                owner, attr = found
                self._entries.append((dotted, owner, attr, owner.__dict__.get(attr, getattr(owner, attr))))
        for module in modules:
            for attr, value in vars(module).items():
                if attr.startswith("__"):
                    continue
                self._entries.append((f"{module.__name__}.{attr}", module, attr, value))
                if isinstance(value, type) and value.__module__ == module.__name__:  # the harness's own classes
                    for member, item in vars(value).items():
                        self._entries.append((f"{module.__name__}.{attr}.{member}", value, member, item))

    def changes(self) -> list[str]:
        moved = []
        for label, owner, attr, value in self._entries:
            current = owner.__dict__.get(attr, getattr(owner, attr, None))
            if current is not value:
                moved.append(label)
        return moved


class ProcessWatch:
    """Python threads and child processes that appeared after a baseline (work the dispatch mode cannot see)."""

    def __init__(self) -> None:
        self._threads = {thread.ident for thread in threading.enumerate()}
        self._children = set(self._child_pids())

    @staticmethod
    def _child_pids() -> list[str]:
        pids = []
        for children in Path("/proc/self/task").glob("*/children"):
            try:
                pids += children.read_text().split()
            except OSError:
                continue
        return pids

    def news(self) -> list[str]:
        found = [f"thread {t.name!r}" for t in threading.enumerate() if t.ident not in self._threads and t.is_alive()]
        found += [f"child process {pid}" for pid in self._child_pids() if pid not in self._children]
        return found


def storage_span(tensor: torch.Tensor) -> tuple[int, int]:
    storage = tensor.untyped_storage()
    return storage.data_ptr(), storage.data_ptr() + storage.nbytes()


def overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors share memory (an output that is an input, or a view of one)."""
    (a0, a1), (b0, b1) = storage_span(a), storage_span(b)
    return a.device == b.device and a0 < b1 and b0 < a1 and a1 > a0 and b1 > b0
