"""``rsigym kernels import <KernelBench checkout> [--level 1 2 3] [--grade] [--solutions DIR]``.

Derives every problem's sizes (cached, so ``suite="kernelbench:<dir>"`` then loads at once),
prints them, and with ``--grade`` grades each problem's template starter (or the solution of
the same file name in ``--solutions``) in the sandbox, reporting the rsigym suite loss next
to KernelBench's ``fast_p``.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rsigym.envs.kernels.kernelbench import fast_p, load_kernelbench, problem_files, task_id_for
from rsigym.scales import DEFAULT_SCALE, SCALES

TEMPLATE_ERROR = "ModelNew(...) failed: NotImplementedError: write ModelNew"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``kernels`` command group to the ``rsigym`` parser."""
    kernels = sub.add_parser("kernels", help="Triton kernel tasks: import KernelBench problems")
    actions = kernels.add_subparsers(dest="kernels_command", required=True)
    importer = actions.add_parser("import", help="turn a KernelBench checkout's problem files into a suite")
    importer.add_argument("checkout", help="a KernelBench checkout, its KernelBench/ folder or one levelN/ folder")
    importer.add_argument("--level", type=int, nargs="+", help="levels to import (default: all)")
    importer.add_argument("--grade", action="store_true", help="grade every problem's starter (or --solutions) in the sandbox")
    importer.add_argument("--solutions", help="a folder of solution files named like the problem files")
    importer.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES)
    importer.add_argument("--workers", type=int, default=1, help="problems graded in parallel")
    importer.add_argument("--sandbox", default="local")
    importer.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    started = time.monotonic()
    failed: dict[str, str] = {}
    tasks = load_kernelbench(args.checkout, args.level, on_error=lambda path, err: failed.__setitem__(path.name, str(err)))
    print(f"imported {len(tasks)} problems ({len(failed)} failed) in {time.monotonic() - started:.1f} s")
    for task in tasks:
        shapes = task.shapes(args.scale)
        print(f"  {task.id}: {len(shapes)} {args.scale} shapes, the last private only: {shapes}")
    for name, error in failed.items():
        print(f"  FAILED {name}: {error}")
    if not args.grade:
        return 1 if failed else 0
    return grade_report(args, tasks, started) or (1 if failed else 0)


def grade_report(args: argparse.Namespace, tasks: list, started: float) -> int:
    from rsigym.evaluation import Evaluator
    from rsigym.sandbox import make_sandbox

    solutions = {task_id_for(level, path): path.name for level, path in problem_files(Path(args.checkout), args.level)}
    with tempfile.TemporaryDirectory(prefix="rsigym-kernelbench-") as tmp:
        root = Path(tmp)
        workspace = root / "workspace"
        for task in tasks:
            folder = workspace / "tasks" / task.id
            shutil.copytree(task.starter_dir, folder)
            given = Path(args.solutions) / solutions[task.id] if args.solutions else None
            if given is not None and given.is_file():
                shutil.copyfile(given, folder / "solution.py")
            task.prepare(0, args.scale, root / "data" / task.id, root / "private" / task.id)
        sandbox = make_sandbox(args.sandbox)
        evaluator = Evaluator(tasks, sandbox, {task.id: 1.0 for task in tasks}, workers=args.workers, cache={})
        suite = evaluator.evaluate(workspace, root / "data", root / "private", 0, args.scale)
        sandbox.close()
    template_ran = 0
    for task_id, result in suite.results.items():
        first_error = result.grade.error.split("; ")[0].splitlines()[0] if result.grade.error else ""
        template_ran += TEMPLATE_ERROR in first_error
        status = "valid" if result.grade.valid else f"invalid: {first_error[:160]}"
        print(f"  {task_id}: loss {result.public_loss:.3f}, {result.compute_s:.1f} s, {status}")
    results = list(suite.results.values())
    figures = {p: fast_p(results, p) for p in (0.0, 1.0, 2.0)}
    shown = ", ".join(f"fast_{p:g} {'n/a (no GPU: speed not measured)' if v is None else f'{v:.3f}'}" for p, v in figures.items())
    print(f"\n{len(results)} problems at scale {args.scale}: suite loss {suite.loss:.3f}; {shown}")
    print(f"valid {sum(r.grade.valid for r in results)}; template starter ran to its NotImplementedError: {template_ran}")
    print(f"total {time.monotonic() - started:.0f} s ({suite.compute_s:.0f} sandbox s)")
    return 0
