"""``make gpu-check`` on a machine without a CUDA GPU stops at once and says why."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a CPU machine gets")
def test_gpu_check_fails_fast_without_a_gpu(tmp_path):
    report = tmp_path / "report.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(report)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no CUDA GPU" in done.stderr and "nothing was checked" in done.stderr
    assert not report.exists(), "no report pretends a check ran"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a CPU machine gets")
def test_make_gpu_check_runs_the_script(tmp_path):
    done = subprocess.run(["make", "-s", "gpu-check", f"GPU_PYTHON={sys.executable}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0 and "no CUDA GPU" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a CPU machine gets")
def test_score_noise_check_needs_a_gpu():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kernel_score_noise.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA GPU" in done.stdout
