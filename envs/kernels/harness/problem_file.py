"""KernelBench-format problem files: load one, pick a shape, build its model and inputs.

A problem file defines ``Model(nn.Module)``, ``get_inputs()`` and ``get_init_inputs()``, as in
KernelBench. Two optional globals extend it: ``SIZES = {"ci": [shape, ...], "full": [...]}``,
where a shape is a dict of module globals to set before ``get_inputs()`` runs (so one file
serves several shapes), and ``TOLERANCE = {"float32": (atol, rtol), ...}``. The trusted grader
and the sandboxed harness both use this module, so that the same seed gives the same tensors.
"""
from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

REQUIRED = ("Model", "get_inputs", "get_init_inputs")
DEFAULT_TOLERANCE = {"float32": (1e-4, 1e-4), "float64": (1e-7, 1e-7), "float16": (1e-2, 1e-2), "bfloat16": (1e-2, 1e-2)}
_counter = itertools.count()


class ProblemError(ValueError):
    """A file that does not follow the KernelBench problem format."""


def import_file(path: Path, name: str | None = None) -> ModuleType:
    """Import a Python file as a fresh module (not cached in ``sys.modules``)."""
    path = Path(path)
    name = name or f"rsigym_kernel_file_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProblemError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def flatten_tensors(value: Any) -> list[torch.Tensor]:
    """The tensors of a forward result: a tensor, or a (nested) tuple/list of them."""
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in flatten_tensors(item)]
    return [value]


class Problem:
    """One KernelBench problem module, with helpers that build seeded inputs for a shape."""

    def __init__(self, path: Path, module_name: str | None = None):
        self.path = Path(path)
        self.module = import_file(self.path, module_name)
        missing = [name for name in REQUIRED if not hasattr(self.module, name)]
        if missing:
            raise ProblemError(f"{self.path}: a KernelBench problem must define {', '.join(missing)}")
        self.defaults = {key: getattr(self.module, key) for key in vars(self.module)}

    def sizes(self, scale: str) -> list[dict[str, Any]]:
        """The shapes declared for ``scale``; a file without ``SIZES`` has one shape, its own globals."""
        declared = getattr(self.module, "SIZES", None) or {}
        shapes = declared.get(scale) or declared.get("ci") or [{}]
        return [dict(shape) for shape in shapes]

    def tolerance(self, dtype: torch.dtype) -> tuple[float, float]:
        """``(atol, rtol)`` for outputs of ``dtype``; a file's ``TOLERANCE`` overrides the defaults."""
        name = str(dtype).removeprefix("torch.")
        table = {**DEFAULT_TOLERANCE, **(getattr(self.module, "TOLERANCE", None) or {})}
        return tuple(table.get(name, (0.0, 0.0)))  # integer outputs must match exactly

    def apply(self, shape: dict[str, Any]) -> None:
        """Set the module globals of ``shape`` (others go back to the file's own values)."""
        unknown = [key for key in shape if key not in self.defaults]
        if unknown:
            raise ProblemError(f"{self.path}: shape sets {unknown}, which the file does not define")
        for key, value in self.defaults.items():
            if key in shape or getattr(self.module, key, None) is not value:
                setattr(self.module, key, shape.get(key, value))

    def init_inputs(self, shape: dict[str, Any]) -> list[Any]:
        self.apply(shape)
        return list(self.module.get_init_inputs())

    def make_inputs(self, shape: dict[str, Any], seed: int, device: str) -> list[Any]:
        """``get_inputs()`` for ``shape`` under ``seed``, created on ``device``."""
        self.apply(shape)
        with torch.random.fork_rng(devices=_cuda_devices(device)):
            torch.manual_seed(seed)
            with torch.device(device):
                inputs = list(self.module.get_inputs())
        return [x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs]

    def make_model(self, cls: type, shape: dict[str, Any], seed: int, device: str) -> torch.nn.Module:
        """``cls(*get_init_inputs())`` built on the CPU under ``seed`` (so parameters match across devices), moved to ``device``."""
        init = self.init_inputs(shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(*init)
        return model.to(device).eval()


def _cuda_devices(device: str) -> Sequence[int]:
    if device.startswith("cuda") and torch.cuda.is_available():
        return [torch.cuda.current_device()]
    return []
