"""Are kernel scores stable enough to be rewards? The starter graded against itself, on a GPU.

For each problem the starter (which is also the timed baseline) is graded ``--repeats`` times
(default 5) in the sandbox, exactly as an evaluation grades it. Its score should be 0 every
time; the check passes when every score lies within ``±--tolerance`` (default 0.05). The table
also reports, per public shape, the coefficient of variation (CV) across gradings of the
solution's and the baseline's median times, and compares the harness's median with
``triton.testing.do_bench`` on the same shape, timed here in the trusted process.

    python benchmarks/kernel_score_noise.py                 # scale "full", 5 gradings per problem
    python benchmarks/kernel_score_noise.py --scale ci --repeats 3 --tasks kernel-swiglu

Exit status: 0 when every problem is within the tolerance, 1 when one is not, 2 without CUDA.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import torch


def cv(values: list[float]) -> float:
    """Coefficient of variation (standard deviation over mean) of ``values``."""
    return statistics.pstdev(values) / statistics.fmean(values) if len(values) > 1 and statistics.fmean(values) else 0.0


def do_bench_ms(task, shape: dict) -> float:
    """``triton.testing.do_bench`` of the starter's forward on ``shape`` (the trusted starter, in this process)."""
    import triton.testing
    from rsigym.envs.kernels.harness.problem_file import import_file

    starter = import_file(task.starter_dir / "solution.py").ModelNew
    model = task.problem.make_model(starter, shape, 0, "cuda")
    inputs = task.problem.make_inputs(shape, 0, "cuda")
    with torch.no_grad():
        return float(triton.testing.do_bench(lambda: model(*inputs), warmup=25, rep=100))


def check(tasks: list, scale: str, repeats: int, tolerance: float) -> bool:
    from rsigym.sandbox import LocalSandbox
    from rsigym.contract import score_solution

    sandbox = LocalSandbox()
    print(f"| problem | scores ({repeats} gradings) | within ±{tolerance:g} | shape | solution median ms | CV solution | "
          "CV baseline | do_bench ms | median / do_bench |")
    print("|---|---|---|---|---|---|---|---|---|")
    all_ok = True
    for task in tasks:
        scores, per_shape = [], {}
        for _ in range(repeats):
            result = score_solution(task, None, 0, scale, sandbox)
            if not result.grade.valid:
                print(f"| {task.id} | invalid: {result.grade.error[:200]} | no | | | | | | |")
                all_ok = False
                break
            scores.append(result.grade.public)
            for name, figures in result.grade.details["shapes"].items():
                per_shape.setdefault(name, []).append(figures)
        if len(scores) < repeats:
            continue
        ok = all(abs(score) <= tolerance for score in scores)
        all_ok &= ok
        shown = " ".join(f"{score:+.3f}" for score in scores)
        for index, (name, runs) in enumerate(sorted(per_shape.items())):
            medians = [run["solution_ms"] for run in runs]
            reference = do_bench_ms(task, task.shapes(scale)[int(name.removeprefix("shape"))])
            median = statistics.median(medians)
            head = f"| {task.id} | {shown} | {'yes' if ok else 'NO'} " if index == 0 else "| | | "
            print(f"{head}| {name} | {median:.4f} | {cv(medians):.3f} | {cv([run['baseline_ms'] for run in runs]):.3f} | "
                  f"{reference:.4f} | {median / reference:.2f} |")
    return all_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("ci", "full"), default="full")
    parser.add_argument("--repeats", type=int, default=5, help="gradings per problem")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--tasks", nargs="*", help="task ids (default: every kernel task)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: kernel scores are timed only on a GPU, so there is no score noise to check here")
        return 2
    from rsigym.envs.kernels import load_tasks

    tasks = [task for task in load_tasks() if not args.tasks or task.id in args.tasks]
    started = time.monotonic()
    ok = check(tasks, args.scale, args.repeats, args.tolerance)
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}; {time.monotonic() - started:.0f} s; "
          f"{'every' if ok else 'NOT every'} starter scored within ±{args.tolerance:g} of 0 against itself")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
