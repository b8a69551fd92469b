"""Cost of evaluating the Kaggle-style suite (RSI-MLE-v0): cold, then incrementally after one edit.

    python benchmarks/mle_suite_cost.py [--scale ci|full] [--seed 0] [--workers 2] [--goal 90]

Builds every task's instance (``prepare``, once per episode), creates a workspace from the
starters, times one cold ``Evaluator.evaluate`` of the whole suite (every solution starts cold:
no warm workers, no cached grades), then edits one task's ``config.json`` and times the next
evaluation, which re-runs only that task. Prints wall and CPU seconds and the load average:
on a shared machine the wall time follows the load, the CPU seconds much less.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from rsigym.registry import load_suite
from rsigym.evaluation import Evaluator
from rsigym.sandbox import make_sandbox
from rsigym.workspace import Workspace


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("ci", "full"), default="ci")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--goal", type=float, default=90.0, help="seconds the cold evaluation should stay under")
    args = parser.parse_args()

    tasks = load_suite("kaggle")
    with tempfile.TemporaryDirectory(prefix="rsigym-mle-cost-") as tmp:
        run = Path(tmp)
        started = time.monotonic()
        for task in tasks:
            task.prepare(args.seed, args.scale, run / "data" / task.id, run / "private" / task.id)
        prepare_s = time.monotonic() - started
        Workspace.create(run / "workspace", run / "history.git", {task.id: task.starter_dir for task in tasks},
                         dict.fromkeys(task.shared_lib_dir for task in tasks if task.shared_lib_dir))
        evaluator = Evaluator(tasks, make_sandbox("local", warm=False), {t.id: t.spec.weight for t in tasks}, args.workers)
        load_before, cpu_before = os.getloadavg()[0], children_cpu_seconds()
        cold = evaluator.evaluate(run / "workspace", run / "data", run / "private", args.seed, args.scale)
        cold_cpu = children_cpu_seconds() - cpu_before
        edited = tasks[0]
        config_path = run / "workspace" / "tasks" / edited.id / "config.json"
        config_path.write_text(json.dumps({**edited.starter_config(), **edited.spec.edits[0].set}))
        cpu_before = children_cpu_seconds()
        incremental = evaluator.evaluate(run / "workspace", run / "data", run / "private", args.seed, args.scale)
        incremental_cpu = children_cpu_seconds() - cpu_before
        load_after = os.getloadavg()[0]

    print(f"{'task':<24} {'run s':>7} {'valid':>6} {'loss':>7}")
    for task in tasks:
        r = cold.results[task.id]
        print(f"{task.id:<24} {r.compute_s:7.1f} {str(r.grade.valid):>6} {r.public_loss:7.3f}")
    print(f"tasks: {len(tasks)}  scale: {args.scale}  workers: {args.workers}  cores: {os.cpu_count()}")
    print(f"data preparation (once per episode): {prepare_s:.1f} s")
    print(f"cold evaluation: {cold.wall_s:.1f} s wall, {cold_cpu:.1f} CPU s  (goal {args.goal:.0f} s)")
    print(f"incremental evaluation after editing {edited.id}: {incremental.wall_s:.1f} s wall, {incremental_cpu:.1f} CPU s")
    print(f"load average: {load_before:.1f} before, {load_after:.1f} after")


if __name__ == "__main__":
    main()
