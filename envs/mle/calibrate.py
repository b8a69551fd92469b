"""Measure each MLE task's baseline, reference and medal thresholds and write them into task.json.

    python -m rsigym.envs.mle.calibrate [TASK ...] [--seeds 0 1 2]

Baseline = the starter's mean score over the seeds; reference = the reference solution's
(``reference/`` overlaid on the starter) mean score; leaderboard = one score per configuration
of a sweep (the starter with every subset of up to three of the task's edits, plus the
reference), from which the medal thresholds follow by MLE-bench's rules. A score here is the
mean of the public and private splits.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from rsigym.envs.mle import load_tasks
from rsigym.envs.mle.task import MLETask
from rsigym.medals import medal_thresholds
from rsigym.tasks import score_solution as score


def score_solution(task: MLETask, solution: Path | None, config: dict | None, seed: int) -> float | None:
    """The mean of the public and private scores of the starter, overlaid with the files in
    ``solution`` and/or a replacement config (``None`` if the run is invalid)."""
    files: dict[str, str] = {}
    if solution is not None:
        files = {str(p.relative_to(solution)): p.read_text() for p in Path(solution).rglob("*") if p.is_file()}
    if config is not None:
        files["config.json"] = json.dumps(config)
    result = score(task, files, seed, "ci")
    if not result.grade.valid:
        return None
    return (result.grade.public + result.grade.private) / 2


def sweep_configs(task: MLETask, depth: int = 3) -> list[dict]:
    """The starter config with every subset of up to ``depth`` edits applied in order."""
    configs = []
    for size in range(depth + 1):
        for combo in itertools.combinations(task.spec.edits, size):
            config = task.starter_config()
            for edit in combo:
                config.update(edit.set)
            configs.append(config)
    return configs


def calibrate(task: MLETask, seeds: list[int]) -> dict:
    baseline = [score_solution(task, None, None, s) for s in seeds]
    reference = [score_solution(task, task.folder / "reference", None, s) for s in seeds]
    if None in baseline or None in reference:
        raise RuntimeError(f"{task.id}: starter or reference failed: {baseline} {reference}")
    board = [s for s in (score_solution(task, None, c, seeds[0]) for c in sweep_configs(task)) if s is not None]
    board.append(reference[0])
    spec = json.loads((task.folder / "task.json").read_text())
    spec.update(
        baseline=round(statistics.mean(baseline), 6),
        reference=round(statistics.mean(reference), 6),
        medals=medal_thresholds(board, task.spec.direction),
        leaderboard=sorted(round(s, 6) for s in board),
        calibration={
            "seeds": seeds,
            "baseline_scores": [round(s, 6) for s in baseline],
            "reference_scores": [round(s, 6) for s in reference],
            "command": "python -m rsigym.envs.mle.calibrate " + task.id,
        },
    )
    (task.folder / "task.json").write_text(json.dumps(spec, indent=2) + "\n")
    return spec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args(argv)
    for task in load_tasks():
        if args.tasks and task.id not in args.tasks:
            continue
        spec = calibrate(task, args.seeds)
        print(f"{task.id}: baseline {spec['baseline']:.4f}  reference {spec['reference']:.4f}  medals {spec['medals']}  ({len(spec['leaderboard'])} entries)")


if __name__ == "__main__":
    main()
