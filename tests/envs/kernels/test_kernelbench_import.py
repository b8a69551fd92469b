"""KernelBench as users have it: a checkout of unchanged problem files (written here in
KernelBench's format, with its GPU-sized globals) becomes a suite with derived ``ci`` sizes and
a hidden private shape per problem."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from rsigym.envs.kernels import kernelbench
from rsigym.envs.kernels.harness.problem_file import Problem

from rsigym.cli import main
from rsigym.registry import load_suite
from rsigym.tasks import Grade, TaskResult

from .test_kernelbench_file import KERNELBENCH_FILE

SOLUTIONS = Path(__file__).with_name("solutions")

# Sizes for a GPU; input_shape repeats num_classes, as KernelBench's loss problems do.
CROSS_ENTROPY = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self):
        super(Model, self).__init__()

    def forward(self, predictions, targets):
        return torch.nn.functional.cross_entropy(predictions, targets)

batch_size = 32768
num_classes = 4096
input_shape = (num_classes,)
dim = 1

def get_inputs():
    return [torch.rand(batch_size, *input_shape), torch.randint(0, num_classes, (batch_size,))]

def get_init_inputs():
    return []
'''

# A grouped convolution: channels must stay divisible by groups; kernel, stride and padding must stay.
GROUPED_CONV = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, groups):
        super(Model, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)

    def forward(self, x):
        return self.conv(x)

batch_size = 16
in_channels = 32
out_channels = 64
kernel_size = 9
stride = 2
padding = 4
groups = 8
height = 256
width = 512

def get_inputs():
    return [torch.rand(batch_size, in_channels, height, width)]

def get_init_inputs():
    return [in_channels, out_channels, kernel_size, stride, padding, groups]
'''


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kernelbench-checkout")
    level1, level2 = root / "KernelBench" / "level1", root / "KernelBench" / "level2"
    level1.mkdir(parents=True)
    level2.mkdir()
    (level1 / "10_Grouped_Conv.py").write_text(GROUPED_CONV)
    (level1 / "2_Scale_ReLU.py").write_text(KERNELBENCH_FILE)
    (level2 / "1_CrossEntropy.py").write_text(CROSS_ENTROPY)
    return root


def _inputs(problem: Problem, shape: dict) -> list[tuple[int, ...]]:
    return kernelbench.input_shapes(problem, shape)


@pytest.mark.parametrize("name", ["10_Grouped_Conv.py", "2_Scale_ReLU.py"])
def test_ci_sizes_fit_the_interpreter_and_stay_irregular(checkout, name):
    problem = Problem(checkout / "KernelBench" / "level1" / name)
    sizes = kernelbench.derive_sizes(problem)
    ci = sizes["ci"]
    assert len(ci) == 3
    inputs = [_inputs(problem, shape) for shape in ci]
    assert all(math.prod(dims) <= kernelbench.CI_MAX_ELEMENTS for shape in inputs for dims in shape)
    assert len({tuple(shape) for shape in inputs}) == 3, "every shape has inputs of its own"
    totals = [sum(math.prod(dims) for dims in shape) for shape in inputs]
    assert totals == sorted(totals), "the smallest shape comes first (it runs most often)"
    assert all(kernelbench.runs_on_cpu(problem, shape) for shape in ci)
    assert sizes["full"][0] == {}, "the file's own sizes are the first full shape"
    if name == "2_Scale_ReLU.py":
        assert any(value % 2 == 1 for shape in ci for value in shape.values()), "sizes are not powers of two"


def test_structural_globals_stay_and_groups_still_divide(checkout):
    problem = Problem(checkout / "KernelBench" / "level1" / "10_Grouped_Conv.py")
    for shape in kernelbench.derive_sizes(problem)["ci"]:
        assert not {"kernel_size", "stride", "padding", "groups"} & set(shape)
        assert shape["in_channels"] % 8 == 0 and shape["out_channels"] % 8 == 0


def test_equal_values_stay_equal(checkout):
    problem = Problem(checkout / "KernelBench" / "level2" / "1_CrossEntropy.py")
    for shape in kernelbench.derive_sizes(problem)["ci"]:
        assert shape["input_shape"] == (shape["num_classes"],)
        assert "dim" not in shape, "small ints (a reduction dim) are not sizes"


def test_a_checkout_loads_as_a_suite_by_level(checkout):
    tasks = kernelbench.load_kernelbench(checkout, levels=[1])
    assert [task.id for task in tasks] == ["kernelbench-l1-2-scale-relu", "kernelbench-l1-10-grouped-conv"]
    every = load_suite(f"kernelbench:{checkout}")
    assert [task.id for task in every][-1] == "kernelbench-l2-1-crossentropy"
    task = tasks[0]
    assert not task.has_baseline, "the template starter: eager PyTorch is the GPU baseline"
    plan = task.plan("ci")
    assert plan["public"] == [0, 1] and plan["private"] == [0, 1, 2], "the third shape is hidden"
    assert (task.problem_path.read_text() == KERNELBENCH_FILE), "the problem file is used unchanged"


def test_the_import_command_reports_each_problem(checkout, capsys):
    assert main(["kernels", "import", str(checkout / "KernelBench" / "level2")]) == 0
    out = capsys.readouterr().out
    assert "imported 1 problems (0 failed)" in out and "kernelbench-l2-1-crossentropy: 3 ci shapes" in out


def test_a_file_whose_inputs_cannot_shrink_is_reported(tmp_path):
    level = tmp_path / "level1"
    level.mkdir()
    (level / "1_Fixed.py").write_text(KERNELBENCH_FILE.replace("torch.randn(batch_size, dim)", "torch.randn(4096, 4096)"))
    failures = {}
    assert kernelbench.load_kernelbench(level, on_error=lambda path, err: failures.update({path.name: str(err)})) == []
    assert "pass sizes= by hand" in failures["1_Fixed.py"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU grading path")
def test_genuine_solution_grades_valid_and_hard_coded_shapes_fail_the_hidden_one(checkout, run_solution, tmp_path):
    task = kernelbench.load_kernelbench(checkout, levels=[1])[0]
    genuine = run_solution(task, SOLUTIONS / "kernelbench_scale_relu.py")
    assert genuine.grade.valid and (genuine.grade.public, genuine.grade.private) == (1.0, 1.0), genuine.grade.error
    public_dims = sorted({shape["dim"] for shape in task.shapes("ci")[:2]})
    hard_coded = tmp_path / "hard_coded.py"
    hard_coded.write_text((SOLUTIONS / "kernelbench_scale_relu.py").read_text().replace(
        "x.shape[-1], BLOCK=1024)", f"{public_dims[0]} if x.shape[-1] < {public_dims[-1]} else {public_dims[-1]}, BLOCK=1024)"))
    cheat = run_solution(task, hard_coded)
    assert cheat.grade.valid and cheat.grade.public == 1.0, cheat.grade.error
    assert cheat.grade.private is None and cheat.private_loss == 2.0, "the hidden shape catches hard-coded sizes"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU grading path")
def test_template_starter_runs_and_says_what_to_write(checkout, run_solution):
    task = kernelbench.load_kernelbench(checkout, levels=[2])[0]
    result = run_solution(task)
    assert not result.grade.valid
    assert result.grade.error.startswith("trial public0 (shape 0): ModelNew(...) failed: NotImplementedError: write ModelNew")


def _result(valid: bool, speedup: float | None) -> TaskResult:
    details = {} if speedup is None else {"speedup_vs_eager": speedup}
    return TaskResult("t", Grade(valid, 0.5 if valid else None, None, details=details), 0.5, 0.5, 1.0)


def test_fast_p_counts_correct_and_faster_than_eager():
    results = [_result(True, 1.5), _result(True, 0.8), _result(False, None), _result(True, 3.0)]
    assert kernelbench.fast_p(results, 0.0) == 0.75, "fast_0 is the fraction correct"
    assert kernelbench.fast_p(results, 1.0) == 0.5
    assert kernelbench.fast_p(results, 2.0) == 0.25
    cpu = [_result(True, None), _result(False, None)]
    assert kernelbench.fast_p(cpu, 0.0) == 0.5 and kernelbench.fast_p(cpu, 1.0) is None, "no speed without a GPU"


def test_a_tampered_size_cache_is_derived_anew(checkout):
    path = checkout / "KernelBench" / "level2" / "1_CrossEntropy.py"
    sizes = kernelbench.cached_sizes(path)
    (entry,) = [p for p in kernelbench.CACHE_DIR.glob("1_CrossEntropy-*.json")]
    entry.write_text('{"ci": [{"Model": 1}, {}, {}], "full": [{}]}')
    assert kernelbench.cached_sizes(path) == sizes
