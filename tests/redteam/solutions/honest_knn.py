"""An honest digits solution: one-nearest-neighbour in numpy (fast, and far above the starter).

The red-team suite plays it after every attack to show that the env still runs, grades and
rewards a real improvement.
"""
import csv
import os
from pathlib import Path

import numpy as np


def read_table(path: Path) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    pixels = [name for name in rows[0] if name.startswith("pixel_")]
    features = np.array([[float(row[name]) for name in pixels] for row in rows])
    target = np.array([row["target"] for row in rows]) if "target" in rows[0] else None
    return [row["id"] for row in rows], features, target


def main() -> None:
    data = Path(os.environ["RSI_DATA_DIR"])
    _, train_x, train_y = read_table(data / "train.csv")
    ids, test_x, _ = read_table(data / "test.csv")
    distances = (test_x**2).sum(1)[:, None] - 2 * test_x @ train_x.T + (train_x**2).sum(1)[None, :]
    predictions = train_y[distances.argmin(1)]
    with (Path(os.environ["RSI_OUTPUT_DIR"]) / "submission.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "target"])
        writer.writerows(zip(ids, predictions))


if __name__ == "__main__":
    main()
