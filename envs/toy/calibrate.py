"""Measure each MLE task's baseline, reference and medal thresholds and write them into task.json.

    python -m rsigym.envs.toy.calibrate [TASK ...] [--seeds 0 1 2]

Baseline = the starter's mean score over the seeds; reference = the reference solution's
(``reference/`` overlaid on the starter) mean score; leaderboard = one score per configuration
of a sweep (the starter with every subset of up to three of the task's edits, plus the
reference), from which the medal thresholds follow by MLE-bench's rules. A score here is the
mean of the public and private splits.
"""
from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

from rsigym.calibration import calibration_main, record_calibration
from rsigym.envs.toy import load_tasks
from rsigym.envs.toy.task import MLETask
from rsigym.medals import medal_thresholds
from rsigym.contract import score_solution


def mean_score(task: MLETask, solution: Path | None, config: dict | None, seed: int) -> float | None:
    """The mean of the public and private scores of the starter, overlaid with the files in
    ``solution`` and/or a replacement config (``None`` if the run is invalid)."""
    files: dict[str, str] = {}
    if solution is not None:
        files = {str(p.relative_to(solution)): p.read_text() for p in Path(solution).rglob("*") if p.is_file()}
    if config is not None:
        files["config.json"] = json.dumps(config)
    result = score_solution(task, files, seed, "ci")
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
    baseline = [mean_score(task, None, None, s) for s in seeds]
    reference = [mean_score(task, task.folder / "reference", None, s) for s in seeds]
    if None in baseline or None in reference:
        raise RuntimeError(f"{task.id}: starter or reference failed: {baseline} {reference}")
    board = [s for s in (mean_score(task, None, c, seeds[0]) for c in sweep_configs(task)) if s is not None]
    board.append(reference[0])
    return record_calibration(
        task,
        baseline=round(statistics.mean(baseline), 6),
        reference=round(statistics.mean(reference), 6),
        medals=medal_thresholds(board, task.spec.direction),
        leaderboard=sorted(round(s, 6) for s in board),
        calibration={
            "seeds": seeds,
            "baseline_scores": [round(s, 6) for s in baseline],
            "reference_scores": [round(s, 6) for s in reference],
            "command": "python -m rsigym.envs.toy.calibrate " + task.id,
        },
    )


def summary(task: MLETask, spec: dict) -> str:
    return (f"{task.id}: baseline {spec['baseline']:.4f}  reference {spec['reference']:.4f}  "
            f"medals {spec['medals']}  ({len(spec['leaderboard'])} entries)")


def main(argv: list[str] | None = None) -> None:
    calibration_main(__doc__.split("\n")[0], load_tasks(), calibrate, summary, argv)


if __name__ == "__main__":
    main()
