"""The kernel suite: every problem's starter grades as a correct, genuine Triton solution under the interpreter."""
from __future__ import annotations

import pytest
import torch
from rsigym.envs.kernels import load_tasks
from rsigym.envs.kernels.harness.problem_file import REQUIRED
from rsigym.envs.kernels.task import CPU_NOTE

TASK_IDS = [task.id for task in load_tasks()]


def test_suite_covers_the_issue():
    assert len(TASK_IDS) >= 8
    assert {"kernel-bias-gelu", "kernel-row-softmax", "kernel-layernorm", "kernel-cumsum",
            "kernel-matmul-bias-relu", "kernel-cross-entropy", "kernel-attention"} <= set(TASK_IDS)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_problem_is_kernelbench_format_with_sizes(kernel_tasks, task_id):
    task = kernel_tasks[task_id]
    assert task.spec.category == "kernel" and task.spec.direction == "max"
    assert (task.spec.baseline, task.spec.reference) == (0.0, 1.0)
    assert all(hasattr(task.problem.module, name) for name in REQUIRED)
    assert (task.starter_dir / "solution.py").is_file() and task.description().strip()
    for scale in ("ci", "full"):
        shapes = task.shapes(scale)
        assert len(shapes) >= 3 and len({repr(s) for s in shapes}) == len(shapes), f"{scale} needs 3 distinct shapes"
    plan = task.plan("ci")
    assert set(plan["private"]) > set(plan["public"]), "the private split must add shapes"
    config = task.starter_config()
    for edit in task.spec.edits:
        assert set(edit.set) <= set(config), f"edit {edit.name} sets keys the starter does not read"


def test_inputs_depend_on_the_seed_and_shape(kernel_tasks):
    problem = kernel_tasks["kernel-layernorm"].problem
    first, second = problem.sizes("ci")[:2]
    a, b = problem.make_inputs(first, 1, "cpu"), problem.make_inputs(first, 1, "cpu")
    assert all(torch.equal(x, y) for x, y in zip(a, b)), "the grader must be able to rebuild a trial's inputs"
    assert not torch.equal(problem.make_inputs(first, 2, "cpu")[0], a[0])
    assert problem.make_inputs(second, 1, "cpu")[0].shape != a[0].shape


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_starter_scores_one_in_interpreter_mode(kernel_tasks, run_solution, task_id):
    if torch.cuda.is_available():
        pytest.skip("CPU grading path; the GPU path is covered by the gpu tests")
    result = run_solution(kernel_tasks[task_id])
    assert result.grade.valid, result.grade.error
    assert (result.grade.public, result.grade.private) == (1.0, 1.0)
    assert result.public_loss == 0.0 and result.private_loss == 0.0
    assert result.grade.details["note"] == CPU_NOTE
    assert result.grade.details["launches"] > 0
