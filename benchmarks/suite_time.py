"""How long one evaluation of the whole default suite takes at scale="ci", from the starter files.

    python benchmarks/suite_time.py [--suite default | SUITE ...] [--seed 0] [--workers 1] [--goal 180] [--cold]

Builds a workspace from every task's starter (as ``RSIEnv.reset`` does), prepares the task
data, then times one ``Evaluator.evaluate``: per task the sandboxed run's seconds, its
validity and loss; then the evaluation's wall time, the CPU seconds of every process it
started (a figure other load on the machine barely moves; with ``--cold`` only, since warm
runs are children of the worker server) and the ratio of the wall time to the goal. The load average is printed too: on a shared machine the wall time follows it.
"""
from __future__ import annotations

import argparse
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
    parser.add_argument("--suite", nargs="+", default=["default"], help='"default" or suite names')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--goal", type=float, default=180.0, help="seconds the evaluation should stay under")
    parser.add_argument("--cold", action="store_true", help="start every solution cold (no warm workers)")
    args = parser.parse_args()

    tasks = load_suite("default" if args.suite == ["default"] else args.suite)
    with tempfile.TemporaryDirectory(prefix="rsigym-suite-time-") as tmp:
        run = Path(tmp)
        started = time.monotonic()
        for task in tasks:
            task.prepare(args.seed, "ci", run / "data" / task.id, run / "private" / task.id)
        prepare_s = time.monotonic() - started
        Workspace.create(
            run / "workspace",
            run / "history.git",
            {task.id: task.starter_dir for task in tasks},
            dict.fromkeys(task.shared_lib_dir for task in tasks if task.shared_lib_dir),
        )
        evaluator = Evaluator(tasks, make_sandbox("local", warm=not args.cold), {t.id: t.spec.weight for t in tasks}, args.workers)
        load_before = os.getloadavg()[0]
        cpu_before = children_cpu_seconds()
        result = evaluator.evaluate(run / "workspace", run / "data", run / "private", args.seed, "ci")
        cpu_s = children_cpu_seconds() - cpu_before
        load_after = os.getloadavg()[0]

    print(f"{'task':<16} {'category':<10} {'run s':>7} {'valid':>6} {'loss':>7}")
    for task in tasks:
        r = result.results[task.id]
        print(f"{task.id:<16} {task.spec.category:<10} {r.compute_s:7.1f} {str(r.grade.valid):>6} {r.public_loss:7.3f}")
    print(f"tasks: {len(tasks)}  suite loss: {result.loss:.3f}  workers: {args.workers}  cores: {os.cpu_count()}")
    print(f"data preparation (once per episode): {prepare_s:.1f} s")
    cpu = f"{cpu_s:.1f} s" if args.cold else "not counted for warm runs"
    print(f"evaluation wall time: {result.wall_s:.1f} s  (sandboxed runs: {result.compute_s:.1f} s; "
          f"CPU of the processes it started: {cpu})")
    print(f"load average: {load_before:.1f} before, {load_after:.1f} after")
    print(f"wall / goal = {result.wall_s:.1f} / {args.goal:.0f} = {result.wall_s / args.goal:.2f}")


if __name__ == "__main__":
    main()
