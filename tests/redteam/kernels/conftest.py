"""Grade a solution file through the real kernel-task pipeline (the task contract's
``score_solution``: a fresh instance, the sandboxed harness, the grader)."""
from __future__ import annotations

from pathlib import Path

import pytest
from rsigym.envs.kernels import load_tasks

from rsigym.sandbox import LocalSandbox
from rsigym.tasks import TaskResult
from rsigym.contract import score_solution


@pytest.fixture(scope="module")
def kernel_grader():
    """``grade(solution_path, task_id="kernel-bias-gelu", lib=None) -> TaskResult`` at scale "ci"."""
    tasks = {task.id: task for task in load_tasks()}
    sandbox = LocalSandbox()

    def grade(solution: Path, task_id: str = "kernel-bias-gelu", lib: dict[str, str] | None = None) -> TaskResult:
        return score_solution(tasks[task_id], {"solution.py": Path(solution).read_bytes()}, 0, "ci", sandbox, lib=lib)

    return grade
