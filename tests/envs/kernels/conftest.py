"""Helpers for kernel-task tests: grade a solution with the task contract's ``score_solution``
(a fresh instance, the sandboxed harness and the grader, as an evaluation runs them)."""
from __future__ import annotations

from pathlib import Path

import pytest
from rsigym.envs.kernels import KernelTask, load_tasks

from rsigym.sandbox import LocalSandbox
from rsigym.tasks import TaskResult
from rsigym.contract import score_solution


@pytest.fixture(scope="module")
def kernel_tasks() -> dict[str, KernelTask]:
    return {task.id: task for task in load_tasks()}


@pytest.fixture(scope="module")
def run_solution():
    """``run(task, solution_path=None, scale="ci") -> TaskResult``; without a path the starter runs."""
    sandbox = LocalSandbox()

    def run(task: KernelTask, solution: Path | None = None, scale: str = "ci") -> TaskResult:
        files = None if solution is None else {"solution.py": Path(solution).read_bytes()}
        return score_solution(task, files, 0, scale, sandbox)

    return run
