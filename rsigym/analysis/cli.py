"""The ``leaderboard``, ``report`` and ``predict`` subcommands (also ``python -m rsigym.analysis``)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rsigym.analysis.forecast import METHODS, MIN_K, ForecastError, forecast
from rsigym.analysis.leaderboard import first_episodes
from rsigym.analysis.report import Options, pooled_warning, write_leaderboard, write_report
from rsigym.analysis.runlog import load_runs


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a task counts as solved at a final loss at or below this (time horizon); default 0.5")
    parser.add_argument("--split", choices=("private", "public"), default="private",
                        help="which final task losses decide success for the time horizon; default private")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for intervals; default 200")
    parser.add_argument("--tb-dir", type=Path, default=None,
                        help="write TensorBoard summaries here (default: OUT/tb)")
    parser.add_argument("--no-tb", action="store_true", help="write no TensorBoard summaries")


def _options(args: argparse.Namespace, out: Path) -> Options:
    return Options(args.threshold, args.split, args.bootstrap,
                   None if args.no_tb else (args.tb_dir or out / "tb"))


def _leaderboard(args: argparse.Namespace) -> int:
    runs = load_runs(args.run_dirs)
    if not runs:
        print(f"no log.jsonl under {' '.join(map(str, args.run_dirs))}", file=sys.stderr)
        return 1
    warning = pooled_warning(first_episodes(run for run in runs if run.complete))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    command = getattr(args, "command_line", None) or shlex.join(["rsigym", *sys.argv[1:]])
    path = write_leaderboard(runs, args.out, _options(args, args.out), command=command)
    print(f"{len(runs)} episodes from {len({r.run_id for r in runs})} runs -> {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    runs = load_runs([args.run_dir])
    if not runs:
        print(f"no log.jsonl in {args.run_dir}", file=sys.stderr)
        return 1
    out = args.out or Path(args.run_dir) / "report"
    path = write_report(runs, out, _options(args, out))
    print(f"{len(runs)} episodes -> {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    runs = load_runs(args.run_dirs)
    if not runs:
        print(f"no log.jsonl under {' '.join(map(str, args.run_dirs))}", file=sys.stderr)
        return 1
    failures = 0
    print(f"{'run':<48} {'k':>4} {'best(k)':>9} {'N':>5} {'L(N) forecast':>13}  {'80% interval':<19} method")
    for run in runs:
        k = args.k if args.k is not None else int(run.curve().iteration[-1])
        try:
            result = forecast(run, args.n, k, method=args.method)
        except ForecastError as err:
            print(f"{run.key:<48} {err}", file=sys.stderr)
            failures += 1
            continue
        print(f"{run.key:<48} {k:>4} {result.best_at_k:>9.4f} {args.n:>5} {result.value:>13.4f}  "
              f"[{result.low:.4f}, {result.high:.4f}]{'':<2} {result.method}")
    return 2 if failures == len(runs) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``leaderboard``, ``report`` and ``predict`` to a parent parser's subcommands."""
    board = subparsers.add_parser("leaderboard", help="rank agent+model pairs by velocity over run directories",
                                  description="Rank agent+model pairs by velocity with intervals over seeds; "
                                              "write leaderboard.md/.csv, runs.csv, PNG plots and TensorBoard "
                                              "summaries. Text above the generated marker in an existing "
                                              "leaderboard.md is kept.")
    board.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                       help="run directories, folders holding run directories, or log.jsonl files")
    board.add_argument("--out", type=Path, default=Path("leaderboard"), help="output folder; default ./leaderboard")
    _add_common(board)
    board.set_defaults(func=_leaderboard)

    report = subparsers.add_parser("report", help="velocity report of one run",
                                   description="Metrics, fits, prediction and plots of one run's episodes.")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run directory (or its log.jsonl)")
    report.add_argument("--out", type=Path, default=None, help="output folder; default RUN_DIR/report")
    _add_common(report)
    report.set_defaults(func=_report)

    predict = subparsers.add_parser(
        "predict", help="forecast each run's best-so-far loss at iteration N",
        description="Forecast the best public loss each run will have reached by iteration N (its best-so-far "
                    "L(N)) from its iterations 0..k, with a calibrated 80 % interval and the method the "
                    f"forecaster chose. Needs k >= {MIN_K}. See docs/analysis.md for how it is scored.")
    predict.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN",
                         help="run directories, folders holding run directories, or log.jsonl files")
    predict.add_argument("--n", type=int, required=True, help="the iteration to forecast the best loss at")
    predict.add_argument("--k", type=int, default=None,
                         help="forecast from iterations 0..k only (default: every logged iteration)")
    predict.add_argument("--method", choices=METHODS, default=None,
                         help="force a method (default: the one chosen by cross-validation)")
    predict.set_defaults(func=_predict)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m rsigym.analysis {leaderboard,report,predict} ...``."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m rsigym.analysis")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.command_line = f"python -m rsigym.analysis {shlex.join(argv)}"
    return args.func(args)
