"""Pure parts of grading: tolerances, the roofline, speed figures and the timing loop (on a CPU clock)."""
from __future__ import annotations

import pytest
import torch
from rsigym.envs.kernels.grading import compare
from rsigym.envs.kernels.harness.problem_file import Problem
from rsigym.envs.kernels.harness.timing import Clock, Stats, benchmark
from rsigym.envs.kernels.roofline import DevicePeaks, Work, count_work, roofline_ms
from rsigym.envs.kernels.task import speed_figures


@pytest.mark.parametrize("dtype,small,large", [(torch.float32, 5e-5, 1e-3), (torch.float16, 5e-3, 5e-2), (torch.bfloat16, 5e-3, 5e-2)])
def test_tolerance_follows_the_dtype(tmp_path, dtype, small, large):
    problem_path = tmp_path / "p.py"
    problem_path.write_text("import torch\nclass Model(torch.nn.Module):\n    pass\ndef get_inputs():\n    return []\ndef get_init_inputs():\n    return []\n")
    tolerance = Problem(problem_path).tolerance(dtype)
    reference = torch.zeros(100, dtype=dtype)
    assert compare((reference.float() + small).to(dtype), reference, tolerance)[0] is None
    assert "wrong values" in compare((reference.float() + large).to(dtype), reference, tolerance)[0]


def test_compare_rejects_nan_shape_and_dtype():
    reference = torch.zeros(4)
    assert "NaN" in compare(torch.tensor([0.0, float("nan"), 0.0, 0.0]), reference, (1.0, 1.0))[0]
    assert "inf" in compare(torch.tensor([0.0, float("inf"), 0.0, 0.0]), reference, (1.0, 1.0))[0]
    assert "shape" in compare(torch.zeros(5), reference, (1.0, 1.0))[0]
    assert "dtype" in compare(torch.zeros(4, dtype=torch.float64), reference, (1.0, 1.0))[0]


def test_roofline_counts_bytes_and_matmul_flops():
    class MatmulBias(torch.nn.Module):
        def forward(self, x, w, b):
            return x @ w + b

    x, w, b = torch.randn(64, 32), torch.randn(32, 16), torch.randn(16)
    work, out = count_work(MatmulBias(), [x, w, b])
    assert out.shape == (64, 16)
    assert work.flops == 2 * 64 * 32 * 16
    assert work.bytes == 4 * (64 * 32 + 32 * 16 + 16 + 64 * 16)
    peaks = DevicePeaks("test", bandwidth=1e12, flops={"float32": 1e12})
    assert roofline_ms(Work(10**9, 0, torch.float32), peaks) == pytest.approx(1.0)  # bandwidth-bound
    assert roofline_ms(Work(1, 3 * 10**9, torch.float32), peaks) == pytest.approx(3.0)  # compute-bound
    assert peaks.flop_rate(torch.float16) == 1e12, "an unmeasured dtype falls back to fp32"


def test_speed_figures_put_the_starter_at_zero_and_the_roofline_at_one():
    def timing(solution):
        return {"eager": {"median": 2.0}, "baseline": {"median": 3.0},
                "solution": {"median": solution, "min": solution, "max": solution}}

    assert speed_figures(timing(3.0), 1.0)["score"] == pytest.approx(0.0)
    assert speed_figures(timing(1.0), 1.0)["score"] == pytest.approx(1.0)
    halfway = speed_figures(timing(2.0), 1.0)
    assert halfway["score"] == pytest.approx(0.5)
    assert halfway["fraction_of_roofline"] == pytest.approx(0.5) and halfway["speedup_vs_eager"] == pytest.approx(1.0)
    no_starter = speed_figures({k: v for k, v in timing(2.0).items() if k != "baseline"}, 1.0)
    assert no_starter["baseline_ms"] == 2.0, "without a working starter, eager PyTorch is the baseline"


def _kept_outputs_are_right(forward) -> bool:
    """Benchmark ``forward`` (doubling) and check every kept timed output the way the grader does."""
    draws = iter(range(1, 10**6))

    def draw():
        seed = next(draws)
        return seed, [torch.full((4,), float(seed))]

    kept = []
    stats = benchmark(forward, draw, Clock("cpu"), repeats=4, warmup=1, keep=lambda seed, out: kept.append((seed, out.clone())))
    assert isinstance(stats, Stats) and stats.repeats == 4 and stats.min <= stats.median <= stats.max
    assert [seed for seed, _ in kept] == sorted({seed for seed, _ in kept}), "every repeat draws new inputs"
    return all(torch.equal(out, torch.full((4,), 2.0 * seed)) for seed, out in kept)


def test_benchmark_keeps_every_timed_output_for_the_grader():
    assert _kept_outputs_are_right(lambda x: x * 2)

    cache = {}
    assert not _kept_outputs_are_right(lambda x: cache.setdefault(x.data_ptr(), x * 2)), "replay by pointer"

    pending = []

    def deferred(x):  # hands back a buffer now and fills it during the next call
        for out, source in pending:
            out.copy_(source * 2)
        pending.clear()
        out = torch.zeros_like(x)
        pending.append((out, x.clone()))
        return out

    assert not _kept_outputs_are_right(deferred)


@pytest.mark.parametrize("split", ["public", "timing"])
def test_large_outputs_round_trip_through_a_sample(tmp_path, split):
    from types import SimpleNamespace

    from rsigym.envs.kernels.grading import _judge_output
    from rsigym.envs.kernels.harness import protocol
    from rsigym.envs.kernels.harness.runner import Harness

    problem_path = tmp_path / "p.py"
    problem_path.write_text("import torch\nclass Model(torch.nn.Module):\n    pass\ndef get_inputs():\n    return []\ndef get_init_inputs():\n    return []\n")
    problem, size = Problem(problem_path), protocol.sample_size(split)
    reference = torch.randn(1100, 1000)
    saver = SimpleNamespace(tensors={})
    (entry,) = Harness.save(saver, "t", [reference.clone()], split)
    assert entry["sample_seed"] is not None and saver.tensors["t.0"].shape == (size,)
    assert _judge_output(entry, saver.tensors, reference, problem, size)[0] is None
    corrupted = reference.clone()
    corrupted[::2] += 1.0  # half the rows wrong: any sample sees it
    assert "wrong values" in _judge_output(entry, saver.tensors, corrupted, problem, size)[0]
    unseeded = {**entry, "sample_seed": None}
    assert "sample seed" in _judge_output(unseeded, saver.tensors, reference, problem, size)[0]


def test_changes_to_the_data_directory_are_found(kernel_tasks, tmp_path):
    import json

    from rsigym.envs.kernels.grading import changed_files

    kernel_tasks["kernel-cumsum"].prepare(0, "ci", tmp_path / "data", tmp_path / "private")
    digests = json.loads((tmp_path / "private" / "digests.json").read_text())
    assert "rsigym_kernel_harness/runner.py" in digests and changed_files(tmp_path / "data", digests) == []
    (tmp_path / "data" / "baseline_solution.py").write_text("# slower now\n")
    (tmp_path / "data" / "sitecustomize.py").write_text("# runs first next time\n")
    assert sorted(changed_files(tmp_path / "data", digests)) == ["baseline_solution.py", "sitecustomize.py"]
