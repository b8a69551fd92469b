"""The GPU timing phases of the harness, run on the CPU so that CI executes them (see check_timing_path.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HACKS = Path(__file__).parents[2] / "redteam" / "kernels" / "hacks"
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the real GPU path runs in test_kernel_gpu.py")


def drive(task, solution: Path, tmp_path: Path) -> dict:
    task.prepare(0, "ci", tmp_path / "data", tmp_path / "private")
    (tmp_path / "out").mkdir()
    script = Path(__file__).with_name("check_timing_path.py")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(tmp_path / "out"), str(solution)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_starter_is_timed_against_eager_and_itself(kernel_tasks, tmp_path):
    task = kernel_tasks["kernel-bias-gelu"]
    result = drive(task, task.starter_dir / "solution.py", tmp_path)
    timing = result["records"]["timing"]
    assert set(timing) == {"0", "1", "2"}
    for shape in timing.values():
        assert {"eager", "baseline", "solution"} <= set(shape)
        assert all(shape[k]["min"] <= shape[k]["median"] <= shape[k]["max"] for k in ("eager", "baseline", "solution"))
    kept = [t for t in result["records"]["trials"] if t["split"] == "timing"]
    assert len(kept) == 3 * 3 and all(not t["problems"] and t["outputs"] for t in kept), "every timed output is kept"
    assert not result["records"]["fatal"] and result["problems"] == {"public": [], "private": []}
    grade = result["grade"]
    assert grade["valid"] and set(grade["details"]["shapes"]["shape0"]) >= {"score", "roofline_ms", "speedup_vs_eager"}


def test_replaying_results_while_timed_is_caught(kernel_tasks, tmp_path):
    result = drive(kernel_tasks["kernel-bias-gelu"], HACKS / "replay_while_timed.py", tmp_path)
    assert any("timing" in p and "wrong values" in p for p in result["problems"]["public"]), result["problems"]
