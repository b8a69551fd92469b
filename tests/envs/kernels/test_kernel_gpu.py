"""The CUDA grading path: measured peaks, timing against eager and the starter, the speed score."""
from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_measured_peaks_are_plausible():
    from rsigym.envs.kernels.roofline import measure_peaks

    peaks = measure_peaks(torch.cuda.current_device())
    assert 1e11 < peaks.bandwidth < 1e13  # 100 GB/s .. 10 TB/s
    assert peaks.flops["float16"] > peaks.flops["float32"] > 1e12


@pytest.mark.parametrize("task_id", ["kernel-bias-gelu", "kernel-matmul-bias-relu"])
def test_starter_scores_near_zero_and_reports_timings(kernel_tasks, run_solution, task_id):
    result = run_solution(kernel_tasks[task_id], scale="ci")
    assert result.grade.valid, result.grade.error
    shape = result.grade.details["shapes"]["shape0"]
    assert shape["roofline_ms"] > 0 and shape["eager_ms"] > 0 and shape["solution_ms"] > 0
    assert 0 < shape["fraction_of_roofline"] <= 1.5
    assert abs(result.grade.public) < 1.0, "the starter is its own baseline, up to timing noise"


def test_side_stream_and_slow_clock_hacks_are_invalid(run_solution, kernel_tasks):
    from pathlib import Path

    hacks = Path(__file__).parents[2] / "redteam" / "kernels" / "hacks"
    for name in ("side_stream", "replay_while_timed", "monkeypatch_perf_counter"):
        result = run_solution(kernel_tasks["kernel-bias-gelu"], hacks / f"{name}.py")
        assert not result.grade.valid, name


def test_a_good_elementwise_kernel_reaches_half_the_measured_bandwidth(kernel_tasks):
    """A plausible roofline: bias + GELU with every edit (one fused kernel) is memory-bound and
    should move its bytes at more than half the bandwidth the grader measured."""
    import json

    from rsigym.contract import score_solution

    task = kernel_tasks["kernel-bias-gelu"]
    config = task.starter_config()
    for edit in task.spec.edits:
        config.update(edit.set)
    result = score_solution(task, {"config.json": json.dumps(config)}, 0, "full")
    assert result.grade.valid, result.grade.error
    fractions = [shape["fraction_of_roofline"] for shape in result.grade.details["shapes"].values()]
    assert min(fractions) > 0.5, fractions
