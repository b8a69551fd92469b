"""Shared tabular modelling code for the MLE tasks (lives in the agent's workspace, free to edit).

A solution calls ``solve(config)``: read the task data from ``$RSI_DATA_DIR``, build the
model the config describes, fit it and write ``$RSI_OUTPUT_DIR/submission.csv``.

Config keys:
    kind        "classification" (labels), "probability" (P(target=1)) or "regression"
    model       one of MODELS below;  params: keyword arguments for it
    features    list of columns to use (default: every column but id and target)
    categorical "drop" | "onehot" | "ordinal"   (string columns)
    impute      "median" | "mean" | "zero"      (missing numeric values)
    scale       standardise numeric features
    log_target  fit on log1p(target) and invert (skewed regression targets)
    clip_min    lower bound for regression predictions
    ensemble    list of partial configs whose predictions are averaged
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import ensemble, linear_model, naive_bayes, neighbors, svm, tree
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

MODELS = {
    "logistic": linear_model.LogisticRegression,
    "linear": linear_model.LinearRegression,
    "ridge": linear_model.Ridge,
    "gaussian_nb": naive_bayes.GaussianNB,
    "knn": neighbors.KNeighborsClassifier,
    "knn_regressor": neighbors.KNeighborsRegressor,
    "svc": svm.SVC,
    "svr": svm.SVR,
    "decision_tree": tree.DecisionTreeClassifier,
    "decision_tree_regressor": tree.DecisionTreeRegressor,
    "random_forest": ensemble.RandomForestClassifier,
    "random_forest_regressor": ensemble.RandomForestRegressor,
    "extra_trees": ensemble.ExtraTreesClassifier,
    "hist_gbm": ensemble.HistGradientBoostingClassifier,
    "hist_gbm_regressor": ensemble.HistGradientBoostingRegressor,
}
SEED = int(os.environ.get("RSI_SEED", "0"))


def load(data_dir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training table (with the target) and the test table (without)."""
    root = Path(data_dir or os.environ["RSI_DATA_DIR"])
    return pd.read_csv(root / "train.csv"), pd.read_csv(root / "test.csv")


def build_model(config: dict, numeric: list[str], categorical: list[str]):
    """A scikit-learn pipeline: impute, encode, optionally scale, then the model."""
    impute = config.get("impute", "median")
    numeric_steps = [SimpleImputer(strategy="constant", fill_value=0) if impute == "zero" else SimpleImputer(strategy=impute)]
    if config.get("scale"):
        numeric_steps.append(StandardScaler())
    parts = [("numeric", make_pipeline(*numeric_steps), numeric)]
    encoding = config.get("categorical", "drop")
    if categorical and encoding != "drop":
        encoder = (
            OneHotEncoder(handle_unknown="ignore", min_frequency=5)
            if encoding == "onehot"
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        )
        parts.append(("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), encoder), categorical))
    params = dict(config.get("params", {}))
    model_class = MODELS[config["model"]]
    if "random_state" in model_class().get_params():
        params.setdefault("random_state", SEED)
    if config["model"] == "svc" and config.get("kind") == "probability":
        params.setdefault("probability", True)
    return make_pipeline(ColumnTransformer(parts, sparse_threshold=0), model_class(**params))


def fit_predict(config: dict, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Fit the configured model (or ensemble) on ``train`` and predict ``test``."""
    if config.get("ensemble"):
        members = [fit_predict({**config, "ensemble": None, **member}, train, test) for member in config["ensemble"]]
        if config.get("kind") == "classification":
            stacked = np.stack(members)
            return np.array([np.bincount(col.astype(int)).argmax() for col in stacked.T])
        return np.mean(members, axis=0)
    features = config.get("features") or [c for c in train.columns if c not in ("id", "target")]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    numeric = [c for c in features if c not in categorical]
    target = train["target"].to_numpy()
    if config.get("log_target"):
        target = np.log1p(target)
    model = build_model(config, numeric, categorical)
    model.fit(train[features], target)
    if config.get("kind") == "probability":
        return model.predict_proba(test[features])[:, 1]
    prediction = model.predict(test[features])
    if config.get("log_target"):
        prediction = np.expm1(prediction)
    if config.get("clip_min") is not None:
        prediction = np.maximum(prediction, config["clip_min"])
    return prediction


def write_submission(ids, predictions, out_dir: str | os.PathLike | None = None) -> Path:
    """Write ``submission.csv`` with columns ``id,target``."""
    path = Path(out_dir or os.environ["RSI_OUTPUT_DIR"]) / "submission.csv"
    pd.DataFrame({"id": ids, "target": predictions}).to_csv(path, index=False)
    return path


def solve(config: dict) -> Path:
    """The whole solution: load, fit, predict, write the submission."""
    train, test = load()
    return write_submission(test["id"], fit_predict(config, train, test))
