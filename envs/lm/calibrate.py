"""Measure the baselines and references of the pre- and post-training tasks and write them into task.json.

    python -m rsigym.envs.lm.calibrate [TASK ...] [--seeds 0 1 2]

Baseline = the starter's mean score over the seeds. Reference = the task's physical limit where
it has one (synthlang: zero bits above the entropy floor), else the mean score of the recorded
strong run: the starter with ``reference/config.json`` in place of its config. For post-training
tasks the untouched base model (the starter with ``steps = 0``) is scored and recorded too. A
score here is the mean of the public and private splits, measured at ``scale="ci"`` in the
local sandbox.
"""
from __future__ import annotations

import json
import platform
import statistics
from pathlib import Path

from rsigym.calibration import calibration_main, record_calibration
from rsigym.envs.lm.grading import CheckpointTask
from rsigym.registry import load_suite
from rsigym.sandbox import Sandbox
from rsigym.tasks import TaskResult
from rsigym.contract import score_solution


def lm_tasks() -> list[CheckpointTask]:
    """Every task of the pretrain and posttrain suites."""
    return load_suite(("pretrain", "posttrain"))


def reference_config(task: CheckpointTask) -> dict:
    """The recorded strong run's full ``config.json``."""
    return json.loads((task.folder / "reference" / "config.json").read_text())


def score_config(
    task: CheckpointTask,
    config: dict | None = None,
    seed: int = 0,
    scale: str = "ci",
    sandbox: Sandbox | None = None,
    weights: dict[str, Path] | None = None,
) -> TaskResult:
    """:func:`~rsigym.contract.score_solution` of the starter with ``config`` replacing its config.json.
    ``weights`` maps file names to files copied into the workspace's ``weights/``.
    """
    files = None if config is None else {"config.json": json.dumps(config, indent=2)}
    return score_solution(task, files, seed, scale, sandbox, weights)


def mean_score(result: TaskResult) -> float:
    if not result.grade.valid:
        raise RuntimeError(f"{result.task_id}: the run failed: {result.grade.error}")
    return (result.grade.public + result.grade.private) / 2


def calibrate(task: CheckpointTask, seeds: list[int]) -> dict:
    baseline = [mean_score(score_config(task, seed=s)) for s in seeds]
    strong = [mean_score(score_config(task, reference_config(task), seed=s)) for s in seeds]
    limit = task.reference_limit
    extra = {}
    if task.spec.category == "posttrain":
        untouched = dict(task.starter_config(), steps=0)
        extra["base_model_scores"] = [round(mean_score(score_config(task, untouched, seed=s)), 6) for s in seeds]
    return record_calibration(
        task,
        baseline=round(statistics.mean(baseline), 6),
        reference=round(statistics.mean(strong), 6) if limit is None else limit,
        calibration={
            "seeds": seeds,
            "baseline_scores": [round(s, 6) for s in baseline],
            "strong_run_scores": [round(s, 6) for s in strong],
            **extra,
            "reference": "mean of the strong runs (reference/config.json)" if limit is None else "physical limit",
            "python": platform.python_version(),
            "command": "python -m rsigym.envs.lm.calibrate " + task.id,
        },
    )


def summary(task: CheckpointTask, spec: dict) -> str:
    calibration = spec["calibration"]
    return (f"{task.id}: baseline {spec['baseline']:.4f} {calibration['baseline_scores']}  "
            f"reference {spec['reference']:.4f}  strong runs {calibration['strong_run_scores']}")


def main(argv: list[str] | None = None) -> None:
    calibration_main(__doc__.split("\n")[0], lm_tasks(), calibrate, summary, argv)


if __name__ == "__main__":
    main()
