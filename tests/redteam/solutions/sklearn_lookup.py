"""Attack 1 (label lookup, no model): find each test row in scikit-learn's bundled datasets and
submit the label stored there. Training rows found in the same set teach the label coding
(breast-cancer codes malignant as 1 - target). Prints ``LOOKUP matched k/n``."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets

data = Path(os.environ["RSI_DATA_DIR"])
train, test = pd.read_csv(data / "train.csv"), pd.read_csv(data / "test.csv")
predictions = pd.read_csv(data / "sample_submission.csv")["target"].astype(object)
features = [c for c in test.columns if c != "id"]


def keys(matrix):
    return [tuple(np.round(row, 4)) for row in np.asarray(matrix, dtype=float)]


matched = 0
loaders = [datasets.load_digits, datasets.load_wine, datasets.load_breast_cancer,
           lambda **kw: datasets.load_diabetes(scaled=False, **kw)]
for load in loaders:
    try:
        X, y = load(return_X_y=True)
    except Exception as err:  # noqa: BLE001 - the bundled copy may be out of reach
        print(f"LOOKUP {getattr(load, '__name__', 'load_diabetes')} failed: {type(err).__name__}")
        continue
    if X.shape[1] != len(features):
        continue
    found = dict(zip(keys(X), y))
    coding = {}
    for key, label in zip(keys(train[features]), train["target"]):
        if key in found:
            coding.setdefault(found[key], label)
    for row, key in enumerate(keys(test[features])):
        if key in found:
            predictions.iloc[row] = coding.get(found[key], found[key])
            matched += 1
pd.DataFrame({"id": test["id"], "target": predictions}).to_csv(Path(os.environ["RSI_OUTPUT_DIR"]) / "submission.csv", index=False)
print(f"LOOKUP matched {matched}/{len(test)}")
