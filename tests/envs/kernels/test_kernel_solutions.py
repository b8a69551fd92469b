"""Legitimate solutions that use autotuning, input copies or a reused output buffer stay valid."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SOLUTIONS = Path(__file__).with_name("solutions")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU grading path")
def test_autotuned_solution_with_persistent_buffer_is_valid(kernel_tasks, run_solution):
    result = run_solution(kernel_tasks["kernel-bias-gelu"], SOLUTIONS / "autotuned_persistent_buffer.py")
    assert result.grade.valid, result.grade.error
    assert result.grade.public == 1.0
