"""Triton kernel tasks in the KernelBench format (suite ``kernels``, env ``RSI-Kernel-v0``).

Each folder here is one problem: ``problem.py`` (``Model``, ``get_inputs``,
``get_init_inputs`` and ``SIZES``), ``task.json``, ``description.md`` and ``starter/`` (a
correct but naive Triton ``ModelNew`` with its knobs in ``config.json``). Any other
KernelBench file becomes a task with :func:`load_problem`.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

from rsigym.envs.kernels.harness.problem_file import Problem, ProblemError
from rsigym.envs.kernels.task import KernelTask

from rsigym.tasks import TaskSpec

SUITE_DIR = Path(__file__).parent

TEMPLATE = '''"""ModelNew for {title}: same constructor as Model in problem.py, forward built on Triton kernels.

Graded by rsigym's kernel harness: forward must launch @triton.jit kernels that do the work
(torch may only allocate, view and copy), return new tensors, and leave its inputs alone.
"""
import torch
import triton
import triton.language as tl


class ModelNew(torch.nn.Module):
    def __init__(self, *init_inputs):
        super().__init__()
        raise NotImplementedError("write ModelNew with Triton kernels (see description.md)")
'''


def load_tasks() -> list[KernelTask]:
    """Every problem folder of the suite, in a stable order."""
    return [KernelTask(folder) for folder in sorted(SUITE_DIR.iterdir()) if (folder / "task.json").is_file()]


def load_problem(
    path: str | Path,
    task_id: str | None = None,
    starter: str | Path | None = None,
    sizes: dict[str, list[dict[str, Any]]] | None = None,
    human_minutes: int = 30,
    title: str = "",
) -> KernelTask:
    """A kernel task from any KernelBench-format file (``Model``, ``get_inputs``, ``get_init_inputs``).

    Args:
        path: the problem file; it is used unchanged.
        task_id: defaults to ``kernel-<file stem>``.
        starter: a working Triton ``solution.py`` to start from (and to time as the GPU
            baseline); without one the starter is a template and eager PyTorch is the baseline.
        sizes: ``{"ci": [shape, ...], "full": [...]}``, each shape a dict of the file's globals to
            override (e.g. ``{"batch_size": 4, "dim": 256}``); defaults to the file's ``SIZES`` or
            its own globals. Small ``ci`` shapes keep the CPU interpreter fast.
        human_minutes: the time-horizon label (10, 30 or 120).
        title: shown in descriptions; defaults to the file name.
    """
    path = Path(path).resolve()
    problem = Problem(path)  # fails early, with a clear message, on a file that is not a problem
    task_id = task_id or "kernel-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    title = title or path.stem
    source = path.read_text()
    starter_text = Path(starter).read_text() if starter else TEMPLATE.format(title=title)
    digest = hashlib.sha256((source + starter_text + repr(sizes)).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "rsigym-kernels" / f"{task_id}-{digest}"
    (folder / "starter").mkdir(parents=True, exist_ok=True)
    (folder / "starter" / "solution.py").write_text(starter_text)
    (folder / "description.md").write_text(_description(title, source))
    spec = TaskSpec(
        id=task_id, title=title, category="kernel", metric="kernel_score", direction="max",
        human_minutes=human_minutes, baseline=0.0, reference=1.0,
        timeout={"ci": 180.0, "full": 900.0},
        notes=f"KernelBench problem loaded from {path.name}",
    )
    spec.validate(path)
    del problem
    return KernelTask(folder, spec, problem_path=path, sizes=sizes, starter_is_baseline=starter is not None)


def _description(title: str, source: str) -> str:
    return (
        f"# {title}\n\nWrite `ModelNew` in `solution.py`: the same constructor as `Model` below and a forward pass "
        "built on Triton kernels that matches `Model` within tolerance (fp32 1e-4, fp16/bf16 1e-2). "
        "See the kernels manual for the checks and the score.\n\n```python\n" + source + "\n```\n"
    )


__all__ = ["KernelTask", "Problem", "ProblemError", "load_problem", "load_tasks"]
