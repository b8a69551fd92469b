"""Fail loudly when the sandbox hides the GPU: tested on a CPU machine by making the grader
believe it sees CUDA (the one probe it asks), while the sandboxed harness, for real, does not."""
from __future__ import annotations

import pytest
import torch
from rsigym.envs.kernels import task as kernel_task

from rsigym.env import RSIEnv
from rsigym.sandbox import LocalSandbox

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="fakes a GPU the grader sees and the sandbox hides")


@pytest.fixture
def grader_sees_cuda(monkeypatch):
    monkeypatch.setattr(kernel_task, "grader_sees_cuda", lambda: True)


def test_grade_says_the_sandbox_hides_the_gpu(grader_sees_cuda, kernel_tasks, run_solution):
    result = run_solution(kernel_tasks["kernel-bias-gelu"])
    assert not result.grade.valid
    assert result.grade.error == kernel_task.GPU_HIDDEN
    assert "sandbox hides the GPU" in result.grade.error and "gpus=" in result.grade.error


def test_reset_refuses_a_sandbox_that_hides_the_gpu(grader_sees_cuda):
    env = RSIEnv(suite="kernels", tasks=["kernel-bias-gelu"], iterations=1, sandbox=LocalSandbox())
    try:
        with pytest.raises(RuntimeError, match="the sandbox hides the GPU") as refused:
            env.reset(seed=0)
        assert "cuda-visible False" in str(refused.value), "the message shows what the probe saw"
    finally:
        env.close()


def test_no_refusal_when_neither_side_sees_cuda():
    assert kernel_task.sandbox_gpu_problem(LocalSandbox()) is None
