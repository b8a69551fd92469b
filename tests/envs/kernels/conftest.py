"""Helpers for kernel-task tests: run a solution through prepare, the sandboxed harness and the grader."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rsigym.envs.kernels import KernelTask, load_tasks

from rsigym.evaluation import run_task
from rsigym.sandbox import LocalSandbox


@pytest.fixture(scope="module")
def kernel_tasks() -> dict[str, KernelTask]:
    return {task.id: task for task in load_tasks()}


@pytest.fixture(scope="module")
def run_solution(tmp_path_factory):
    """``run(task, solution_path=None, scale="ci") -> TaskResult``; without a path the starter runs."""
    root = tmp_path_factory.mktemp("kernel-runs")
    sandbox = LocalSandbox()
    prepared: set[tuple[str, str]] = set()
    counter = iter(range(10**6))

    def run(task: KernelTask, solution: Path | None = None, scale: str = "ci"):
        data, private = root / "data" / task.id / scale, root / "private" / task.id / scale
        if (task.id, scale) not in prepared:
            task.prepare(0, scale, data, private)
            prepared.add((task.id, scale))
        workspace = root / f"ws{next(counter)}"
        shutil.copytree(task.starter_dir, workspace / "tasks" / task.id)
        if solution is not None:
            shutil.copyfile(solution, workspace / "tasks" / task.id / "solution.py")
        return run_task(task, workspace, data, private, sandbox, 0, scale)

    return run
