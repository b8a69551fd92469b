"""The leak audit's attacker, run in the sandbox as a solution (see :mod:`rsigym.leak_audit`).

It is a standalone script: ``rsigym.leak_audit`` copies it into a fresh workspace with a
``leak_audit.json`` of settings and runs it like any solution, so it sees exactly what a
solution sees. It never imports ``rsigym``. Two modes:

``tabular``: look every test row of ``$RSI_DATA_DIR/test.csv`` up by its numeric features in
every table it can get: the ``leak_candidates/`` the audit regenerated from visible seeds,
every dataset ``sklearn.datasets.load_*`` returns, and every table-like file readable on the
file system. A matched row is answered with the label found; the rest with the constant of
``sample_submission.csv``. Training rows found in the same table teach it how the table's
labels map to the task's (a task may recode them). It writes ``submission.csv`` and prints ``MATCHED k/n``.

``documents``: search every readable file (binary formats aside) for the ``needles``
(fragments of the hidden test documents) and print ``FOUND <needle index> <path>`` for each
hit, then ``SEARCHED <count> files``.
"""
from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".data", ".dat", ".txt.gz")
BINARY_SUFFIXES = (".so", ".pyc", ".a", ".o", ".whl", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".ttf", ".otf",
                   ".pdf", ".woff", ".woff2", ".mo", ".pkl", ".pt", ".safetensors", ".xz", ".bz2", ".tar")
MAX_FILE_BYTES = 30 * 1024**2
SKIPPED_ROOTS = ("/proc", "/sys", "/dev")
# Where data ships or is left: the interpreter's folders (packages' bundled data), shared data
# folders, homes and temporary folders. (All of "/" takes minutes on a developer's machine.)
SEARCH_ROOTS = ("/usr/lib", "/usr/lib64", "/usr/share", "/usr/local", "/opt", "/srv", "/home", "/root", "/tmp", "/var/tmp", "/mnt", "/data")


def readable_files(suffixes: tuple[str, ...] | None, deadline: float, report: dict, first: tuple[str, ...] = ()):
    """Every regular file the sandbox can open (only ``suffixes``, or all but binary ones), once
    each, the interpreter's folders first; the solution's own folder and public data are left
    out; the ``first`` folders are walked first. ``report["complete"]`` says whether the walk ended before ``deadline``."""
    seen = set()
    own = {os.path.realpath(os.getcwd()), os.path.realpath(os.environ.get("RSI_DATA_DIR", "/nonexistent"))}
    data = os.path.dirname(os.environ.get("RSI_DATA_DIR", "/"))
    # the data folder's neighbours (a run's private folder may sit there) and the interpreter first
    roots = [*first, os.path.dirname(data), sys.base_prefix, sys.prefix, *sys.path, os.environ.get("HOME", "/"), *SEARCH_ROOTS]
    report["complete"] = False
    for root in roots:
        for folder, subfolders, names in os.walk(root, onerror=lambda err: None):
            if time.monotonic() > deadline:
                return
            subfolders[:] = [n for n in subfolders if os.path.join(folder, n) not in SKIPPED_ROOTS and n != "__pycache__"
                             and os.path.realpath(os.path.join(folder, n)) not in own]
            for name in names:
                if time.monotonic() > deadline:
                    return
                path = os.path.join(folder, name)
                lower = name.lower()
                if (suffixes is not None and not lower.endswith(suffixes)) or (suffixes is None and lower.endswith(BINARY_SUFFIXES)):
                    continue
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                key = (stat.st_dev, stat.st_ino)
                if key in seen or not os.path.isfile(path) or stat.st_size > MAX_FILE_BYTES:
                    continue
                seen.add(key)
                yield path
    report["complete"] = True


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


# -- tabular -------------------------------------------------------------------------------
def row_keys(frame, columns) -> list[tuple]:
    import numpy as np

    import pandas as pd

    values = frame[columns].apply(lambda c: pd.to_numeric(c, errors="coerce")).to_numpy(dtype=float)
    return [tuple(np.where(np.isnan(row), -1e300, np.round(row, 4))) for row in values]


def bundled_tables():
    """Every scikit-learn bundled dataset, as (features, target) frames."""
    import pandas as pd
    from sklearn import datasets

    for name in sorted(dir(datasets)):
        if not name.startswith("load_") or name in ("load_files", "load_svmlight_file", "load_svmlight_files",
                                                    "load_sample_image", "load_sample_images"):
            continue
        for kwargs in ({}, {"scaled": False}):
            try:
                features, target = getattr(datasets, name)(return_X_y=True, as_frame=True, **kwargs)
            except Exception:  # noqa: BLE001 - a missing or hidden file: nothing found
                continue
            if isinstance(target, pd.DataFrame):
                target = target.iloc[:, 0]
            yield f"sklearn.datasets.{name}{kwargs or ''}", features, target


def file_tables(deadline: float, report: dict):
    """Table-like readable files, parsed as numbers: (label, all columns but last, last column)."""
    import io

    import pandas as pd

    for path in readable_files(TABLE_SUFFIXES, deadline, report):
        try:
            text = _read(path)
            first = text[:4096].split(b"\n", 1)[0]
            sep = "," if b"," in first else "\t" if b"\t" in first else ";" if b";" in first else r"\s+"
            frame = pd.read_csv(io.BytesIO(text), header=None, sep=sep, engine="c", nrows=100_000, low_memory=False)
        except Exception:  # noqa: BLE001 - not a table
            continue
        header = [str(name).strip() for name in frame.iloc[0]] if len(frame) else []
        if "id" in header and "target" in header:  # labels by id, such as a grader's own file
            named = frame.iloc[1:].set_axis(header, axis=1)
            yield path, named[["id"]].apply(pd.to_numeric, errors="coerce"), named["target"]
            continue
        frame = frame.apply(lambda c: pd.to_numeric(c, errors="coerce")).dropna(axis=1, how="all")
        if frame.shape[1] >= 2 and len(frame) >= 10:
            yield path, frame.iloc[:, :-1], frame.iloc[:, -1]


def _as(kind: type, value):
    """``value`` (perhaps text read from a file) as the type of the task's class labels."""
    try:
        return kind(float(value)) if kind is not str else str(value)
    except (TypeError, ValueError, OverflowError):
        return value


def translator(pairs: list[tuple[float, float]], classification: bool):
    """How a source's labels map to the task's, learnt from training rows found in the source
    (a task may recode labels, e.g. 1 - target); identity when none were found."""
    import numpy as np

    if not pairs:
        return lambda value: value
    if classification:
        votes: dict = {}
        for found, true in pairs:
            votes.setdefault(found, {}).setdefault(true, 0)
            votes[found][true] += 1
        mapping = {found: max(counts, key=counts.get) for found, counts in votes.items()}
        return lambda value: mapping.get(value)
    found, true = np.array(pairs, dtype=float).T
    slope, intercept = np.polyfit(found, true, 1) if len(set(found)) > 1 else (1.0, float(np.mean(true - found)))
    return lambda value: slope * float(value) + intercept


def tabular(settings: dict) -> None:
    import pandas as pd

    data = Path(os.environ["RSI_DATA_DIR"])
    train = pd.read_csv(data / "train.csv")
    test = pd.read_csv(data / "test.csv")
    sample = pd.read_csv(data / "sample_submission.csv")
    numeric = [c for c in test.columns if c != "id" and pd.api.types.is_numeric_dtype(test[c])]
    wanted = {key: i for i, key in enumerate(row_keys(test, numeric))}
    known = dict(zip(row_keys(train, numeric), train["target"]))
    classes = set(train["target"].unique())
    classification = settings.get("classification", len(classes) <= 50)
    own_files = {str((data / name).resolve()) for name in ("test.csv", "train.csv", "sample_submission.csv")}
    by_id = {(float(i),): row for row, i in enumerate(test["id"])}
    answers: dict[int, object] = {}
    sources: dict[str, int] = {}

    def consider(label: str, features, target) -> None:
        if label in own_files:
            return
        if list(features.columns) == ["id"]:
            index, columns = by_id, ["id"]
        elif features.shape[1] >= len(numeric):
            index = wanted
            columns = numeric if set(numeric) <= set(features.columns) else list(features.columns[: len(numeric)])
        else:
            return
        names = columns if index is by_id else numeric
        rows = list(zip(row_keys(features[columns].set_axis(names, axis=1), names), list(target)))
        if classification:
            target_type = type(next(iter(classes)))
            rows = [(key, _as(target_type, value)) for key, value in rows]
        pairs = [(value, known[key]) for key, value in rows if key in known]
        translate = translator(pairs, classification)
        hits = 0
        for key, value in rows:
            row = index.get(key)
            if row is None or row in answers:
                continue
            answer = translate(value)
            if answer is None or (classification and answer not in classes):
                continue
            answers[row] = answer
            hits += 1
        if hits:
            sources[label] = hits

    for path in sorted(Path("leak_candidates").glob("*.csv")):
        table = pd.read_csv(path)
        consider(str(path), table.drop(columns=["target"]), table["target"])
    for label, features, target in bundled_tables():
        consider(label, features, target)
    walk: dict = {}
    for label, features, target in file_tables(time.monotonic() + settings.get("search_seconds", 25), walk):
        try:
            consider(str(Path(label).resolve()), features, target)
        except Exception:  # noqa: BLE001 - any readable file may hold junk; it must not stop the search
            continue
    predictions = sample["target"].astype(object).copy()
    for row, value in answers.items():
        predictions.iloc[row] = value
    pd.DataFrame({"id": test["id"], "target": predictions}).to_csv(Path(os.environ["RSI_OUTPUT_DIR"]) / "submission.csv", index=False)
    print(f"MATCHED {len(answers)}/{len(test)} walk_complete={walk.get('complete')} " + json.dumps(sources))


# -- documents -----------------------------------------------------------------------------
def documents(settings: dict) -> None:
    needles = [bytes.fromhex(n) for n in settings["needles"]]
    searched, walk, found = 0, {}, set()
    deadline = time.monotonic() + settings.get("search_seconds", 120)
    for path in readable_files(None, deadline, walk, tuple(settings.get("priority", ()))):
        try:
            text = _read(path)
        except (OSError, EOFError, gzip.BadGzipFile, ValueError):
            continue
        searched += 1
        for index, needle in enumerate(needles):
            if needle in text:
                print(f"FOUND {index} {path}")
                found.add(index)
        if len(found) >= settings.get("enough", len(needles) + 1):
            break  # the leak is proven
    print(f"SEARCHED {searched} files, walk_complete={walk.get('complete')}")


if __name__ == "__main__":
    config = json.loads(Path("leak_audit.json").read_text())
    {"tabular": tabular, "documents": documents}[config["mode"]](config)
    sys.stdout.flush()
