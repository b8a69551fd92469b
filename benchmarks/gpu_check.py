"""One command that checks the whole GPU path (``make gpu-check``) and writes a Markdown report.

Steps, each a separate process with its own time limit, in this order:

1. the sandbox device conformance: exactly the given devices inside, CUDA and a Triton launch
   inside the local sandbox (confined and process mode);
2. ``pytest -m gpu`` over the test files that hold GPU tests;
3. the kernel red team (``tests/redteam/kernels``) on the GPU;
4. the score-noise check (``benchmarks/kernel_score_noise.py``): every starter against itself
   within ±0.05;
5. the timing table (``benchmarks/kernel_timings.py --scale full``);
6. a 3-iteration greedy ``RSI-Kernel-v0`` episode whose suite loss must fall.

The report (``--out``, default ``gpu-check-report.md``) starts with the device, driver, CUDA,
torch and Triton versions and holds each step's verdict, time and output tail. Without a CUDA
GPU it stops at once with "no CUDA GPU" and exit status 2. Exit status 1 when a step failed.
The whole run is sized for about 8 minutes on one GPU (``--budget``): a step that would start
after the budget is spent is reported as skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAIL_CHARS = 4000
GPU_TEST_PATHS = ("tests/sandbox/test_devices.py", "tests/envs/kernels", "tests/redteam/kernels")

CONFORMANCE = """
import sys, tempfile
from pathlib import Path
from rsigym.sandbox import LocalSandbox
from rsigym.sandbox.conformance import check_gpu, run_check
for confine in ("auto", False):
    sandbox = LocalSandbox(confine=confine)
    print(sandbox.mode, "gpus", sandbox.gpu.indices, "devices", sandbox.devices(), "libraries", sandbox.gpu.library_dirs)
    with tempfile.TemporaryDirectory() as tmp:
        if sandbox.mode == "confined":
            run_check(sandbox, "devices", Path(tmp))
            print(sandbox.mode, "devices: exactly the given ones")
        print(sandbox.mode, "CUDA and a Triton launch inside:", check_gpu(sandbox, Path(tmp) / "gpu"))
"""


def versions() -> dict[str, str]:
    """Device, driver, CUDA, torch, Triton and Python versions, read without a sandbox."""
    import torch
    import triton

    found = {
        "device": torch.cuda.get_device_name(),
        "devices": str(torch.cuda.device_count()),
        "torch": torch.__version__,
        "CUDA (torch)": str(torch.version.cuda),
        "Triton": triton.__version__,
        "Python": platform.python_version(),
        "host": platform.platform(),
    }
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        found["driver (nvidia-smi)"] = smi.stdout.strip().splitlines()[0] if smi.stdout.strip() else smi.stderr.strip()[:200]
    except (OSError, subprocess.SubprocessError):
        version = Path("/proc/driver/nvidia/version")
        found["driver"] = version.read_text().splitlines()[0] if version.is_file() else "unknown"
    return found


def steps(python: str, run_dir: Path) -> list[tuple[str, list[str], float]]:
    """``(name, argv, time limit in seconds)`` of each step."""
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return [
        ("sandbox device conformance", [python, "-c", CONFORMANCE], 120),
        # The folders holding the gpu-marked tests: collecting all of tests/ would import optional
        # libraries (hypothesis, docker, RL stacks) a GPU box's image may not have.
        ("pytest -m gpu", pytest + ["-m", "gpu", *GPU_TEST_PATHS], 150),
        ("kernel red team on the GPU", pytest + ["tests/redteam/kernels"], 150),
        ("score noise (starter vs itself, 5 gradings)", [python, "benchmarks/kernel_score_noise.py", "--scale", "full"], 200),
        ("timing table (--scale full)", [python, "benchmarks/kernel_timings.py", "--scale", "full"], 120),
        ("greedy RSI-Kernel-v0, 3 iterations", [python, "-m", "rsigym.cli", "run", "RSI-Kernel-v0", "--agent", "greedy",
                                                "--iterations", "3", "--seed", "0", "--out", str(run_dir)], 200),
    ]


def loss_fell(run_dir: Path) -> tuple[bool, str]:
    """Whether the episode's suite loss ended below where it started, from its run log."""
    logs = sorted(run_dir.glob("*/log.jsonl"))
    if not logs:
        return False, "no run log written"
    records = [json.loads(line) for line in logs[-1].read_text().splitlines() if line.strip()]
    first, last = records[0]["loss"], records[-1]["loss"]
    return last < first, f"suite loss {first:.4f} -> {last:.4f}"


def run_step(name: str, argv: list[str], limit: float, env: dict) -> dict:
    started = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
        output, status = done.stdout + done.stderr, "PASS" if done.returncode == 0 else f"FAIL (exit {done.returncode})"
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
        status = f"FAIL (over its {limit:.0f} s limit)"
    return {"name": name, "status": status, "seconds": time.monotonic() - started, "output": output[-TAIL_CHARS:]}


def report(found: dict[str, str], results: list[dict], total: float) -> str:
    lines = ["# rsigym GPU check", "", f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {total:.0f} s in all.", ""]
    lines += ["| | |", "|---|---|"] + [f"| {key} | {value} |" for key, value in found.items()] + [""]
    lines += ["| step | verdict | seconds |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['status']} | {r['seconds']:.0f} |" for r in results] + [""]
    for r in results:
        lines += [f"## {r['name']}: {r['status']}", "", "```", r["output"].rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check-report.md", help="where the Markdown report goes")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("no CUDA GPU check possible: torch is not installed in this interpreter", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA GPU: `make gpu-check` needs an NVIDIA GPU that torch can use "
              "(torch.cuda.is_available() is False here); nothing was checked", file=sys.stderr)
        return 2
    started = time.monotonic()
    found = versions()
    env = dict(os.environ)  # the steps import the installed rsigym (pip install -e . or a wheel)
    results = []
    with tempfile.TemporaryDirectory(prefix="rsigym-gpu-check-") as tmp:
        for name, argv, limit in steps(sys.executable, Path(tmp) / "runs"):
            left = args.budget - (time.monotonic() - started)
            if left < 20:
                results.append({"name": name, "status": "SKIPPED (budget spent)", "seconds": 0.0, "output": ""})
                continue
            result = run_step(name, argv, min(limit, left), env)
            if name.startswith("greedy") and result["status"] == "PASS":
                fell, how = loss_fell(Path(tmp) / "runs")
                result["output"] += f"\n{how}"
                result["status"] = "PASS" if fell else "FAIL (the loss did not fall)"
            results.append(result)
            print(f"{result['status']:<32} {result['seconds']:5.0f} s  {name}", flush=True)
    total = time.monotonic() - started
    Path(args.out).write_text(report(found, results, total))
    print(f"report: {args.out} ({total:.0f} s)")
    return 0 if all(r["status"] == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
