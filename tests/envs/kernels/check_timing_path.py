"""Drive the harness's GPU-only phases on the CPU (perf_counter clock, interpreted kernels).

A CUDA machine runs these phases for real; this script lets CPU CI execute the same code:
time eager PyTorch and the starter before the solution is imported, then the solution (keeping
every timed output), judge the kept outputs and score with made-up device peaks. Usage:
``check_timing_path.py DATA_DIR OUTPUT_DIR SOLUTION.py``; prints records, problems and grade as JSON.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported, below

from rsigym.envs.kernels.grading import judge
from rsigym.envs.kernels.harness.runner import Harness
from rsigym.envs.kernels.roofline import DevicePeaks
from rsigym.envs.kernels.task import speed_grade


def main(data_dir: Path, output_dir: Path, solution: Path) -> None:
    harness = Harness(data_dir, output_dir, solution)
    harness.plan["timing"].update(repeats=3, warmup=1)
    harness.time_trusted_models()
    model_cls = harness.import_solution()
    for split in ("public", "private"):
        harness.run_split(split, model_cls)
    harness.time_solution(model_cls)
    verdict = judge(harness.problem, harness.plan, harness.records, harness.tensors, "cpu", count_work=True,
                    timed_repeats=harness.plan["timing"]["repeats"])
    peaks = DevicePeaks("made-up", bandwidth=1e9, flops={"float32": 1e9})
    plan = {**harness.plan, "public": [0], "private": list(range(len(harness.plan["shapes"])))}
    grade = speed_grade(plan, harness.records, verdict, True, {}, peaks)
    json.dump({"records": harness.records, "problems": verdict.problems, "grade": grade._asdict()}, sys.stdout)


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:4]))
