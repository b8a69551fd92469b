"""Full vs incremental evaluation, and cold vs warm solution runs, measured side by side.

    python benchmarks/evaluation_speed.py [--suite default | SUITE ...] [--seed 0] [--workers 1]

On a workspace built from every task's starter files (scale="ci"):

1. a full evaluation with every solution started cold, then one with warm workers (the
   worker server is started before the clock runs; its start-up is printed apart);
2. for each task in turn, an edit of that task's entry file (a comment appended) and an
   evaluation: only that task runs again. The mean ratio to the warm full evaluation is
   compared with the goal 1.5/N for N tasks;
3. an edit of each shared library file, which re-runs the tasks whose runs read it.

Every figure is a wall time from this one run on this machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rsigym.registry import load_suite
from rsigym.evaluation import Evaluator
from rsigym.sandbox import LocalSandbox
from rsigym.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", default=["default"], help='"default" or suite names')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    tasks = load_suite("default" if args.suite == ["default"] else args.suite)
    weights = {t.id: t.spec.weight for t in tasks}
    with tempfile.TemporaryDirectory(prefix="rsigym-eval-speed-") as tmp:
        run = Path(tmp)
        for task in tasks:
            task.prepare(args.seed, "ci", run / "data" / task.id, run / "private" / task.id)
        workspace = run / "workspace"
        Workspace.create(
            workspace, run / "history.git", {task.id: task.starter_dir for task in tasks},
            dict.fromkeys(task.shared_lib_dir for task in tasks if task.shared_lib_dir),
        )

        def evaluate(evaluator: Evaluator):
            return evaluator.evaluate(workspace, run / "data", run / "private", args.seed, "ci")

        cold = evaluate(Evaluator(tasks, LocalSandbox(warm=False), weights, args.workers, cache={}))
        warm_sandbox = LocalSandbox(warm=True)
        started = time.monotonic()
        warm_sandbox.run([warm_sandbox.python(), "-c", "pass"], run / "data", 120)  # starts the worker server
        server_s = time.monotonic() - started
        evaluator = Evaluator(tasks, warm_sandbox, weights, args.workers, cache={})
        warm = evaluate(evaluator)
        gap = max(abs(cold.losses[t.id] - warm.losses[t.id]) for t in tasks)

        print(f"{len(tasks)} tasks, scale=ci, seed {args.seed}, workers {args.workers}, cores {os.cpu_count()}")
        print(f"worker server start-up (once per process): {server_s:.1f} s")
        print(f"full evaluation, cold starts: {cold.wall_s:7.1f} s")
        print(f"full evaluation, warm starts: {warm.wall_s:7.1f} s   cold/warm = {cold.wall_s / warm.wall_s:.2f}")
        print(f"largest cold-vs-warm difference of a task loss: {gap:.2g}")

        print(f"\n{'edited task':<26}{'re-ran':>8}{'wall s':>9}{'/ full':>9}")
        ratios = []
        for task in tasks:
            entry = workspace / "tasks" / task.id / task.entry
            entry.write_text(entry.read_text() + "\n# benchmark edit\n")
            before = evaluator.misses
            result = evaluate(evaluator)
            ratios.append(result.wall_s / warm.wall_s)
            print(f"{task.id:<26}{evaluator.misses - before:>8}{result.wall_s:>9.2f}{ratios[-1]:>9.3f}")
        goal = 1.5 / len(tasks)
        print(f"mean incremental / full = {statistics.mean(ratios):.3f}  (goal <= 1.5/N = {goal:.3f}; "
              f"max {max(ratios):.3f})")

        print(f"\n{'edited shared file':<34}{'re-ran':>8}{'wall s':>9}{'/ full':>9}")
        for path in sorted((workspace / "lib").rglob("*.py")):
            path.write_text(path.read_text() + "\n# benchmark edit\n")
            before = evaluator.misses
            result = evaluate(evaluator)
            rel = str(path.relative_to(workspace))
            print(f"{rel:<34}{evaluator.misses - before:>8}{result.wall_s:>9.2f}{result.wall_s / warm.wall_s:>9.3f}")


if __name__ == "__main__":
    main()
