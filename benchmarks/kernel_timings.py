"""Kernel-task timings: the grading budget on a CPU, the timing table on a GPU.

Without CUDA (the CI case) it grades every starter at scale "ci" under the Triton interpreter,
the way an evaluation does, and prints seconds per task against the suite budget (all kernel
tasks together in 45 s). With CUDA it grades, per problem, the starter and the starter with all
its edits applied (the best configuration the task's menu offers) at the chosen scale, and
prints the Markdown table recorded in docs/kernels.md.

    python benchmarks/kernel_timings.py                  # CPU: budget check at "ci"
    python benchmarks/kernel_timings.py --scale full     # GPU: the table for docs/kernels.md
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch
from rsigym.envs.kernels import KernelTask, load_tasks

from rsigym.evaluation import Evaluator
from rsigym.sandbox import LocalSandbox
from rsigym.contract import score_solution

CPU_BUDGET_S = 45.0


def all_edits(task: KernelTask) -> dict[str, str]:
    """The starter's ``config.json`` with every edit of the task's menu applied, as solution files."""
    config = task.starter_config()
    for edit in task.spec.edits:
        config.update(edit.set)
    return {"config.json": json.dumps(config)}


def cpu_budget(tasks: list[KernelTask], root: Path, workers: int) -> None:
    workspace = root / "ws"
    for task in tasks:
        shutil.copytree(task.starter_dir, workspace / "tasks" / task.id)
        task.prepare(0, "ci", root / "data" / task.id, root / "private" / task.id)
    evaluator = Evaluator(tasks, LocalSandbox(), {}, workers=workers)
    start, cpu_start = time.monotonic(), _cpu_seconds()
    suite = evaluator.evaluate(workspace, root / "data", root / "private", 0, "ci")
    wall, cpu = time.monotonic() - start, _cpu_seconds() - cpu_start
    print(f"{'task':28s} {'valid':>5s} {'sandbox s':>9s}")
    for task_id, result in suite.results.items():
        print(f"{task_id:28s} {result.grade.valid!s:>5s} {result.compute_s:9.1f}")
    print(f"\nall {len(tasks)} kernel tasks, {workers} worker(s): {wall:.1f} s wall "
          f"= {wall / CPU_BUDGET_S:.2f} x the {CPU_BUDGET_S:.0f} s budget")
    # Wall time depends on what else the machine runs; CPU seconds do not.
    print(f"CPU time of grading (sandboxed runs + grader): {cpu:.1f} s; on {workers} idle cores about "
          f"{cpu / workers:.1f} s = {cpu / workers / CPU_BUDGET_S:.2f} x the budget")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def gpu_table(tasks: list[KernelTask], scale: str) -> None:
    sandbox = LocalSandbox()
    rows = []
    for task in tasks:
        figures = {}
        for edits in (False, True):
            result = score_solution(task, all_edits(task) if edits else None, 0, scale, sandbox)
            if not result.grade.valid:
                print(f"{task.id} ({'edits' if edits else 'starter'}): invalid: {result.grade.error[:300]}")
                continue
            figures["edits" if edits else "starter"] = (result.grade.details["shapes"]["shape0"], result.grade.details["device"])
        if "starter" not in figures:
            continue
        starter, device = figures["starter"]
        best = min((f for f, _ in figures.values()), key=lambda f: f["solution_ms"])
        rows.append((task.id, device, starter, best))
    print("| problem | device | eager ms | starter ms | best ms (min / median / max) | roofline ms | best / roofline |")
    print("|---|---|---|---|---|---|---|")
    for task_id, device, starter, best in rows:
        print(f"| {task_id} | {device} | {starter['eager_ms']:.3f} | {starter['solution_ms']:.3f} | "
              f"{best['solution_min_ms']:.3f} / {best['solution_ms']:.3f} / {best['solution_max_ms']:.3f} | "
              f"{best['roofline_ms']:.3f} | {best['fraction_of_roofline']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("ci", "full"), default="ci")
    parser.add_argument("--workers", type=int, default=2, help="parallel tasks for the CPU budget check")
    parser.add_argument("--tasks", nargs="*", help="task ids (default: all kernel tasks)")
    args = parser.parse_args()
    tasks = [t for t in load_tasks() if not args.tasks or t.id in args.tasks]
    with tempfile.TemporaryDirectory(prefix="rsigym-kernel-bench-") as tmp:
        if torch.cuda.is_available():
            gpu_table(tasks, args.scale)
        else:
            if args.scale != "ci":
                print("no CUDA GPU: speed is not measured; checking the CPU grading budget at scale 'ci'")
            cpu_budget(tasks, Path(tmp), args.workers)


if __name__ == "__main__":
    main()
