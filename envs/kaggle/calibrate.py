"""Measure each Kaggle-style task's baseline, reference, medals and split noise; write them into task.json.

    python -m rsigym.envs.kaggle.calibrate [TASK ...] [--seeds 0] [--board 21]

- **Baseline / reference:** the starter's and the reference's score, each the mean of the public
  and private splits, averaged over ``--seeds``, graded by :func:`rsigym.contract.score_solution`
  (a sandboxed run, exactly as an evaluation runs it).
- **Leaderboard:** ``--board`` configurations of varied strength on seed 0: the starter, the
  starter with each menu edit, random points of the task's search space (a fixed generator)
  and the reference; a configuration whose score ties one already there (within ``DISTINCT``)
  is skipped. These are trusted configurations of ``lib/modelkit.py``, so they are fitted
  in this process on the same instance and graded by the same grader (no sandbox start-up per
  entry). Medal thresholds follow MLE-bench's rules (:func:`rsigym.medals.medal_thresholds`);
  a task whose thresholds are not strictly ordered fails calibration.
- **Split noise:** the bootstrap standard error (``BOOTSTRAPS`` resamples of the private rows)
  of the normalised private loss of the starter's and the reference's predictions; the larger
  is stored as ``calibration.private_loss_se`` and must be at most ``MAX_SE``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from rsigym.envs.kaggle import LIB_DIR, load_tasks
from rsigym.envs.kaggle.builder import load_source
from rsigym.envs.kaggle.task import KaggleTask
from rsigym.envs.kaggle.grading import METRICS, grade_submission
from rsigym.loss import normalised_loss
from rsigym.medals import medal_thresholds
from rsigym.contract import score_solution

BOOTSTRAPS = 200
MAX_SE = 0.05
BOARD_SEED = 1234  # the generator that draws the leaderboard's random configurations
MAX_BOARD_ATTEMPTS = 100
DISTINCT = 1e-4  # relative score difference below which two leaderboard entries count as one


def sandboxed_score(task: KaggleTask, folder: Path | None, seed: int) -> float:
    """Mean of the public and private scores of the starter (overlaid with ``folder``)."""
    result = score_solution(task, folder, seed, "ci")
    if not result.grade.valid:
        raise RuntimeError(f"{task.id}: {'reference' if folder else 'starter'} is invalid on seed {seed}: {result.grade.error}")
    return (result.grade.public + result.grade.private) / 2


@contextlib.contextmanager
def instance(task: KaggleTask, seed: int) -> Iterator[tuple[Path, Path]]:
    """A built instance (data folder, private folder) with ``$RSI_DATA_DIR`` pointing at it."""
    with tempfile.TemporaryDirectory(prefix=f"rsigym-calibrate-{task.id}-") as tmp:
        data, private = Path(tmp) / "data", Path(tmp) / "private"
        task.prepare(seed, "ci", data, private)
        previous = os.environ.get("RSI_DATA_DIR")
        os.environ["RSI_DATA_DIR"] = str(data)
        try:
            yield data, private
        finally:
            if previous is None:
                os.environ.pop("RSI_DATA_DIR")
            else:
                os.environ["RSI_DATA_DIR"] = previous


def modelkit():
    if str(LIB_DIR) not in sys.path:
        sys.path.insert(0, str(LIB_DIR))
    import modelkit as kit

    return kit


def predict(config: dict, data: Path) -> pd.DataFrame:
    """The submission ``config`` makes on the instance in ``data`` (fitted in this process)."""
    train, test = pd.read_csv(data / "train.csv"), pd.read_csv(data / "test.csv")
    return pd.DataFrame({"id": test["id"], "target": modelkit().fit_predict(config, train, test)})


def board_score(task: KaggleTask, config: dict, data: Path, private: Path) -> tuple[float | None, pd.DataFrame | None]:
    """Mean public/private score of ``config`` (graded by the task's grader) and its submission;
    ``(None, None)`` if it fails or is invalid."""
    try:
        submission = predict(config, data)
    except Exception as err:  # noqa: BLE001 - a random configuration may not fit this table
        print(f"  {task.id}: configuration failed ({type(err).__name__}: {err})", file=sys.stderr)
        return None, None
    path = private.parent / "submission.csv"
    submission.to_csv(path, index=False)
    grade = grade_submission(path, private / "labels.csv", task.spec.metric)
    return ((grade.public + grade.private) / 2, submission) if grade.valid else (None, None)


def board_configs(task: KaggleTask) -> Iterator[dict]:
    """The starter, the starter with each edit, then random search-space points (endless)."""
    starter = task.starter_config()
    yield starter
    for edit in task.spec.edits:
        yield {**starter, **edit.set}
    space = json.loads((task.folder / "search_space.json").read_text())
    rng = np.random.default_rng(BOARD_SEED)
    while True:
        config = dict(starter)
        for key, values in space.items():
            if rng.random() < 0.8:
                config[key] = values[int(rng.integers(len(values)))]
        yield config


def leaderboard(task: KaggleTask, size: int, data: Path, private: Path) -> tuple[list[float], pd.DataFrame]:
    """Scores of ``size`` configurations whose scores all differ (two configurations that fit the
    same model tie, and ties make medals degenerate), and the starter's submission."""
    scores: list[float] = []
    starter_submission = None
    for attempt, config in enumerate(board_configs(task)):
        if len(scores) >= size or attempt >= MAX_BOARD_ATTEMPTS:
            break
        score, submission = board_score(task, config, data, private)
        if attempt == 0:
            starter_submission = submission
        if score is not None and all(abs(score - other) > DISTINCT * max(1.0, abs(other)) for other in scores):
            scores.append(score)
    return scores, starter_submission


def private_loss_se(task: KaggleTask, submission: pd.DataFrame, private: Path, baseline: float, reference: float) -> float:
    """Bootstrap standard error of the normalised private loss of ``submission``."""
    labels = pd.read_csv(private / "labels.csv")
    rows = labels[labels["split"] == "private"].merge(submission.rename(columns={"target": "prediction"}), on="id")
    truth, prediction = rows["target"].to_numpy(), rows["prediction"].to_numpy()
    score = METRICS[task.spec.metric][1]
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(BOOTSTRAPS):
        pick = rng.integers(0, len(rows), len(rows))
        if task.spec.metric == "roc_auc" and len(set(truth[pick])) < 2:
            continue
        losses.append(normalised_loss(float(score(truth[pick], prediction[pick])), baseline, reference))
    return float(np.std(losses, ddof=1))


def calibrate(task: KaggleTask, seeds: list[int], board_size: int) -> dict:
    started = time.monotonic()
    baseline = [sandboxed_score(task, None, seed) for seed in seeds]
    reference = [sandboxed_score(task, task.folder / "reference", seed) for seed in seeds]
    reference_seconds = (time.monotonic() - started) / (2 * len(seeds))
    baseline_mean, reference_mean = statistics.mean(baseline), statistics.mean(reference)
    reference_config = json.loads((task.folder / "reference" / "config.json").read_text())
    with instance(task, seeds[0]) as (data, private):
        board, starter_submission = leaderboard(task, board_size - 1, data, private)
        board.append(reference[0])
        se = max(private_loss_se(task, submission, private, baseline_mean, reference_mean)
                 for submission in (starter_submission, predict(reference_config, data)))
    medals = medal_thresholds(board, task.spec.direction)
    spec = json.loads((task.folder / "task.json").read_text())
    why = spec["notes"].split(" || ", 1)[0]
    spec.update(
        baseline=round(baseline_mean, 6),
        reference=round(reference_mean, 6),
        medals=medals,
        leaderboard=sorted(round(s, 6) for s in board),
        calibration={
            "seeds": seeds,
            "baseline_scores": [round(s, 6) for s in baseline],
            "reference_scores": [round(s, 6) for s in reference],
            "private_loss_se": round(se, 4),
            "bootstraps": BOOTSTRAPS,
            "command": "python -m rsigym.envs.kaggle.calibrate " + task.id,
        },
        notes=why + " || Reference: reference/config.json for lib/modelkit.py ("
        + describe(reference_config) + "), tuned by hand on seed 0 at scale='ci' against the search space's "
        f"leaderboard; one sandboxed run took about {reference_seconds:.0f} s (including the sandbox start) on a "
        "shared 2-core machine. Baseline and reference are means of the public and private scores over seeds "
        + ", ".join(map(str, seeds)) + f"; the leaderboard has {len(board)} configurations (seed 0).",
    )
    (task.folder / "task.json").write_text(json.dumps(spec, indent=2) + "\n")
    return spec


def describe(config: dict) -> str:
    """A short human summary of a modelkit config."""
    members = config.get("ensemble") or [config]
    parts = []
    for member in members:
        merged = {**config, **member}
        words = [merged["model"]]
        for key in ("joins", "date_features", "target_encode", "text"):
            if merged.get(key):
                words.append(key.replace("_", " "))
        if merged.get("target_transform") == "log1p":
            words.append("log target")
        parts.append(" + ".join(words))
    return ("average of " if len(parts) > 1 else "") + "; ".join(parts)


def check_medals(spec: dict) -> None:
    medals = spec["medals"]
    ordered = [medals["gold"], medals["silver"], medals["bronze"]]
    strictly = all(a > b for a, b in zip(ordered, ordered[1:])) if spec["direction"] == "max" else all(a < b for a, b in zip(ordered, ordered[1:]))
    if not strictly:
        raise RuntimeError(f"{spec['id']}: degenerate medals {medals}")


def source_rows(task: KaggleTask) -> int:
    """Rows of the task's table after its filter and missing-target drop (every row at ``full``)."""
    spec = task.data_spec
    frame = load_source(spec["source"])
    if "filter" in spec:
        frame = frame[frame[spec["filter"]["column"]].isin(spec["filter"]["in"])]
    return len(frame.dropna(subset=[spec["target"], *spec.get("dropna", ())]))


def suite_table() -> str:
    """The suite as the markdown table of docs/tasks.md, from every task.json."""
    lines = ["| task | kind | split | metric | human_minutes | baseline | reference | gold / silver / bronze | private-loss SE | rows ci / full |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for task in load_tasks():
        spec, data = task.spec, task.data_spec
        full = source_rows(task)
        ci = min(full, data.get("rows", {}).get("ci") or full)
        kind = "classification" if ("positive" in data or "threshold" in data) else "regression"
        if data.get("tables"):
            kind += ", multi-table"
        if data.get("recode"):
            kind += ", recommender"
        if "text" in json.loads((task.folder / "reference" / "config.json").read_text()):
            kind += ", text"
        medals = spec.medals or {}
        se = json.loads((task.folder / "task.json").read_text()).get("calibration", {}).get("private_loss_se", float("nan"))
        lines.append(f"| {task.id} | {kind} | {data['split']['kind']} | {spec.metric} | {spec.human_minutes} | {spec.baseline:.4g} | "
                     f"{spec.reference:.4g} | " + " / ".join(f"{medals.get(m, float('nan')):.4g}" for m in ("gold", "silver", "bronze"))
                     + f" | {se:.3f} | {ci:,} / {full:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--board", type=int, default=21, help="leaderboard size, the reference included")
    parser.add_argument("--table", action="store_true", help="print the suite's markdown table (docs/tasks.md) and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(suite_table())
        return
    problems = []
    for task in load_tasks():
        if args.tasks and task.id not in args.tasks:
            continue
        try:
            spec = calibrate(task, args.seeds, args.board)
        except Exception as err:  # noqa: BLE001 - report every task's failure, then fail
            problems.append(f"{task.id}: calibration failed: {type(err).__name__}: {err}")
            print(problems[-1], flush=True)
            continue
        se = spec["calibration"]["private_loss_se"]
        print(f"{task.id}: baseline {spec['baseline']:.4f} reference {spec['reference']:.4f} medals {spec['medals']} "
              f"({len(spec['leaderboard'])} entries) private-loss SE {se:.3f}", flush=True)
        try:
            check_medals(spec)
        except RuntimeError as err:
            problems.append(str(err))
        if se > MAX_SE:
            problems.append(f"{task.id}: private-loss SE {se:.3f} > {MAX_SE}")
    if problems:
        raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main()
