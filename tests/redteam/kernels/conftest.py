"""Run a solution file through the real kernel-task pipeline: prepare, sandboxed harness, grader."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rsigym.envs.kernels import load_tasks

from rsigym.evaluation import run_task
from rsigym.sandbox import LocalSandbox


@pytest.fixture(scope="module")
def kernel_grader(tmp_path_factory):
    """``grade(solution_path, task_id="kernel-bias-gelu", lib=None) -> TaskResult`` at scale "ci"."""
    root = tmp_path_factory.mktemp("kernel-redteam")
    tasks = {task.id: task for task in load_tasks()}
    sandbox = LocalSandbox()
    prepared: set[str] = set()

    def grade(solution: Path, task_id: str = "kernel-bias-gelu", lib: dict[str, str] | None = None):
        task = tasks[task_id]
        data, private = root / "data" / task_id, root / "private" / task_id
        if task_id not in prepared:
            task.prepare(0, "ci", data, private)
            prepared.add(task_id)
        workspace = root / f"ws-{solution.stem}"
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.copytree(task.starter_dir, workspace / "tasks" / task_id)
        shutil.copyfile(solution, workspace / "tasks" / task_id / "solution.py")
        for name, text in (lib or {}).items():
            (workspace / "lib").mkdir(exist_ok=True)
            (workspace / "lib" / name).write_text(text)
        return run_task(task, workspace, data, private, sandbox, 0, "ci")

    return grade
