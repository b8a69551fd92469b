"""A KernelBench-format file written outside the project loads with load_problem() and grades."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rsigym.envs.kernels import ProblemError, load_problem

SOLUTIONS = Path(__file__).with_name("solutions")

# KernelBench's own layout: module-level sizes meant for a GPU, a parameter initialised from the RNG.
KERNELBENCH_FILE = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Scales the input by a learned per-feature factor, then applies ReLU."""

    def __init__(self, dim):
        super(Model, self).__init__()
        self.scale = nn.Parameter(torch.randn(dim))

    def forward(self, x):
        return torch.relu(x * self.scale)


batch_size = 16
dim = 16384


def get_inputs():
    x = torch.randn(batch_size, dim)
    return [x]


def get_init_inputs():
    return [dim]
'''
CI_SIZES = {"ci": [{"batch_size": 4, "dim": 256}, {"batch_size": 3, "dim": 333}, {"batch_size": 2, "dim": 1000}]}


@pytest.fixture
def problem_file(tmp_path):
    path = tmp_path / "outside" / "42_Scale_ReLU.py"
    path.parent.mkdir()
    path.write_text(KERNELBENCH_FILE)
    return path


def test_external_file_loads_as_a_task(problem_file):
    task = load_problem(problem_file, sizes=CI_SIZES)
    assert task.id == "kernel-42-scale-relu"
    assert task.spec.category == "kernel" and task.problem.path == problem_file.resolve()
    assert task.plan("ci")["shapes"] == CI_SIZES["ci"]
    assert "def get_inputs" in task.description()
    assert load_problem(problem_file).shapes("ci") == [{}], "without sizes a file runs at its own globals"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU grading path")
def test_external_file_grades_a_triton_solution(problem_file, run_solution):
    task = load_problem(problem_file, sizes=CI_SIZES)
    result = run_solution(task, SOLUTIONS / "kernelbench_scale_relu.py")
    assert result.grade.valid, result.grade.error
    assert (result.grade.public, result.grade.private) == (1.0, 1.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU grading path")
def test_template_starter_is_invalid_until_written(problem_file, run_solution):
    result = run_solution(load_problem(problem_file, sizes=CI_SIZES))
    assert not result.grade.valid
    first = result.grade.error.split("; ")[0]  # the root cause comes first, its consequences after
    assert first.startswith("trial public0 (shape 0): ModelNew(...) failed: NotImplementedError: write ModelNew"), first


def test_file_without_the_kernelbench_functions_is_refused(tmp_path):
    path = tmp_path / "not_a_problem.py"
    path.write_text("import torch\nclass Model(torch.nn.Module):\n    pass\n")
    with pytest.raises(ProblemError, match="get_inputs, get_init_inputs"):
        load_problem(path)
