"""Shared modelling code for the Kaggle-style tasks (lives in the agent's workspace, free to edit).

A solution calls ``solve(config)``: read ``train.csv`` and ``test.csv`` (and any extra tables)
from ``$RSI_DATA_DIR``, build the features and the model the config describes, fit, predict and
write ``$RSI_OUTPUT_DIR/submission.csv``.

Config keys (all optional but ``kind`` and ``model``):
    kind             "regression" or "probability" (P(target = 1) for a 0/1 target)
    model            one of MODELS: linear, ridge, logistic, knn, hgb, random_forest, extra_trees
    params           model settings by name (alpha, C, learning_rate, max_iter, max_leaf_nodes,
                     min_samples_leaf, l2_regularization, n_estimators, max_depth, n_neighbors,
                     max_features); settings a model does not take are ignored, so a search
                     can change the model without clearing them
    features         columns to use (default: every column but id and target)
    drop             columns to leave out
    joins            extra tables to left-join first: {"table": "weather", "on": [...]} or
                     {"table": "airports", "left_on": "dest", "right_on": "faa", "prefix": "dest_"}
    date_features    date/time columns to expand into year, month, day of week, day of year, hour
                     and a day count (the raw column is dropped)
    target_encode    high-cardinality columns to replace by out-of-fold smoothed target means
                     (plus a count column); "te_smoothing" (default 20) pulls rare values to the mean
    text             {"column": ..., "analyzer": "word" | "char_wb", "ngram_max": 2,
                     "max_features": 20000}: a TF-IDF linear model of the text whose out-of-fold
                     prediction becomes a feature ("text_score") for the main model
    categorical      "drop" | "onehot" | "ordinal" (string columns)
    scale            standardise numeric features (linear models and k-NN need it)
    target_transform "none" | "log1p" (fit on log1p(target), predict expm1)
    clip             [low, high] bounds for predictions
    ensemble         list of partial configs whose predictions are averaged
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import threadpoolctl
from sklearn import ensemble, linear_model, neighbors
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

# (regressor, classifier) per model name
MODELS = {
    "linear": (linear_model.LinearRegression, linear_model.LogisticRegression),
    "ridge": (linear_model.Ridge, linear_model.LogisticRegression),
    "logistic": (linear_model.Ridge, linear_model.LogisticRegression),
    "knn": (neighbors.KNeighborsRegressor, neighbors.KNeighborsClassifier),
    "hgb": (ensemble.HistGradientBoostingRegressor, ensemble.HistGradientBoostingClassifier),
    "random_forest": (ensemble.RandomForestRegressor, ensemble.RandomForestClassifier),
    "extra_trees": (ensemble.ExtraTreesRegressor, ensemble.ExtraTreesClassifier),
}
SEED = int(os.environ.get("RSI_SEED", "0"))
FOLDS = 5
# One thread per solution: on a busy machine OpenMP's threads wait on each other at every
# barrier (a 2 s gradient-boosting fit took minutes with two threads on a loaded 2-core host).
threadpoolctl.threadpool_limits(int(os.environ.get("RSI_THREADS", "1")))


def data_dir() -> Path:
    return Path(os.environ["RSI_DATA_DIR"])


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training table (with ``target``) and the test table (without)."""
    return pd.read_csv(data_dir() / "train.csv"), pd.read_csv(data_dir() / "test.csv")


def join_tables(frame: pd.DataFrame, joins: list[dict]) -> pd.DataFrame:
    """Left-join each extra table (``<table>.csv`` in the data folder); row order is kept."""
    for join in joins:
        table = pd.read_csv(data_dir() / f"{join['table']}.csv")
        left = join.get("on", join.get("left_on"))
        right = join.get("on", join.get("right_on"))
        left, right = ([left] if isinstance(left, str) else list(left)), ([right] if isinstance(right, str) else list(right))
        table = table.drop_duplicates(subset=right)
        prefix = join.get("prefix", "")
        table = table.rename(columns={c: prefix + c for c in table.columns if c not in right})
        merged = frame.merge(table, how="left", left_on=left, right_on=right, suffixes=("", "_joined"))
        extra = [c for c in right if c not in left]
        frame = merged.drop(columns=extra).set_index(frame.index)
    return frame


def expand_dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Replace each date column by its calendar parts and a day count."""
    frame = frame.copy()
    for column in columns:
        when = pd.to_datetime(frame.pop(column), errors="coerce", utc=True)
        frame[f"{column}_year"] = when.dt.year
        frame[f"{column}_month"] = when.dt.month
        frame[f"{column}_dow"] = when.dt.dayofweek
        frame[f"{column}_doy"] = when.dt.dayofyear
        frame[f"{column}_hour"] = when.dt.hour + when.dt.minute / 60
        frame[f"{column}_days"] = (when - pd.Timestamp("1970-01-01", tz="UTC")).dt.days
    return frame


def target_encode(train: pd.DataFrame, test: pd.DataFrame, target: np.ndarray, columns: list[str], smoothing: float):
    """Out-of-fold smoothed target means (and counts) of ``columns`` in place of the columns."""
    train, test = train.copy(), test.copy()
    prior = float(np.mean(target))

    def encode(keys: pd.Series, values: np.ndarray, apply_to: pd.Series) -> np.ndarray:
        stats = pd.DataFrame({"key": keys.to_numpy(), "y": values}).groupby("key")["y"].agg(["sum", "count"])
        means = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
        return apply_to.map(means).fillna(prior).to_numpy(dtype=float)

    folds = KFold(FOLDS, shuffle=True, random_state=SEED)
    for column in columns:
        keys = train[column].astype(str)
        encoded = np.zeros(len(train))
        for fit_rows, held_rows in folds.split(train):
            encoded[held_rows] = encode(keys.iloc[fit_rows], target[fit_rows], keys.iloc[held_rows])
        counts = keys.value_counts()
        test_keys = test[column].astype(str)
        train[f"{column}_mean"], test[f"{column}_mean"] = encoded, encode(keys, target, test_keys)
        train[f"{column}_count"] = keys.map(counts).to_numpy(dtype=float)
        test[f"{column}_count"] = test_keys.map(counts).fillna(0).to_numpy(dtype=float)
        train, test = train.drop(columns=[column]), test.drop(columns=[column])
    return train, test


def text_scores(train: pd.DataFrame, test: pd.DataFrame, target: np.ndarray, spec: dict, kind: str):
    """Out-of-fold predictions of a TF-IDF linear model of one text column, for train and test."""
    column = spec["column"]

    def fit_predict_text(fit_text, fit_y, predict_text):
        vectoriser = TfidfVectorizer(analyzer=spec.get("analyzer", "word"), ngram_range=(1, spec.get("ngram_max", 2)),
                                     max_features=spec.get("max_features", 20000), min_df=2, sublinear_tf=True)
        matrix = vectoriser.fit_transform(fit_text)
        if kind == "probability":
            model = linear_model.LogisticRegression(C=spec.get("C", 4.0), max_iter=2000).fit(matrix, fit_y)
            return model.predict_proba(vectoriser.transform(predict_text))[:, 1]
        return linear_model.Ridge(alpha=spec.get("alpha", 1.0)).fit(matrix, fit_y).predict(vectoriser.transform(predict_text))

    train_text, test_text = train[column].fillna("").astype(str), test[column].fillna("").astype(str)
    scores = np.zeros(len(train))
    for fit_rows, held_rows in KFold(FOLDS, shuffle=True, random_state=SEED).split(train):
        scores[held_rows] = fit_predict_text(train_text.iloc[fit_rows], target[fit_rows], train_text.iloc[held_rows])
    return scores, fit_predict_text(train_text, target, test_text)


def build_model(config: dict, numeric: list[str], categorical: list[str]):
    """A scikit-learn pipeline: impute, encode, optionally scale, then the model."""
    numeric_steps = [SimpleImputer(strategy="median")]
    if config.get("scale"):
        numeric_steps.append(StandardScaler())
    parts = [("numeric", make_pipeline(*numeric_steps), numeric)]
    encoding = config.get("categorical", "drop")
    if categorical and encoding != "drop":
        encoder = (
            OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False)
            if encoding == "onehot"
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        )
        parts.append(("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), encoder), categorical))
    regressor, classifier = MODELS[config["model"]]
    model_class = classifier if config["kind"] == "probability" else regressor
    accepted = model_class().get_params()
    params = {key: value for key, value in config.get("params", {}).items() if key in accepted}
    if "random_state" in accepted:
        params.setdefault("random_state", SEED)
    if "max_iter" in accepted and model_class is linear_model.LogisticRegression:
        params["max_iter"] = max(int(params.get("max_iter", 1000)), 1000)
    if "n_jobs" in accepted:
        params.setdefault("n_jobs", 1)
    return make_pipeline(ColumnTransformer(parts, sparse_threshold=0), model_class(**params))


def prepare_features(config: dict, train: pd.DataFrame, test: pd.DataFrame):
    """The feature tables the config describes (joins, dates, encodings, text scores)."""
    target = train["target"].to_numpy(dtype=float)
    if config.get("target_transform") == "log1p":
        target = np.log1p(np.maximum(target, 0))
    train, test = train.drop(columns=["target"]), test.copy()
    if config.get("joins"):
        train, test = join_tables(train, config["joins"]), join_tables(test, config["joins"])
    if config.get("date_features"):
        train, test = expand_dates(train, config["date_features"]), expand_dates(test, config["date_features"])
    text = config.get("text")
    if text:
        train["text_score"], test["text_score"] = text_scores(train, test, target, text, config["kind"])
    if config.get("target_encode"):
        train, test = target_encode(train, test, target, config["target_encode"], config.get("te_smoothing", 20.0))
    skip = {"id", *config.get("drop", ()), *([text["column"]] if text else ())}
    features = config.get("features") or [c for c in train.columns if c not in skip]
    if text and config.get("features") and "text_score" not in features:
        features = [*features, "text_score"]
    return train[features], test[features], target


def fit_predict(config: dict, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Fit the configured model (or the average of an ensemble) on ``train`` and predict ``test``."""
    if config.get("ensemble"):
        members = [fit_predict({**config, "ensemble": None, **member}, train, test) for member in config["ensemble"]]
        return np.mean(members, axis=0)
    train_x, test_x, target = prepare_features(config, train, test)
    categorical = [c for c in train_x.columns if not pd.api.types.is_numeric_dtype(train_x[c])]
    numeric = [c for c in train_x.columns if c not in categorical]
    model = build_model(config, numeric, categorical)
    if config["kind"] == "probability":
        model.fit(train_x, target.astype(int))
        prediction = model.predict_proba(test_x)[:, 1]
    else:
        model.fit(train_x, target)
        prediction = model.predict(test_x)
        if config.get("target_transform") == "log1p":
            prediction = np.expm1(np.clip(prediction, -20, 30))
    if config.get("clip"):
        prediction = np.clip(prediction, *config["clip"])
    return prediction


def write_submission(ids, predictions) -> Path:
    """Write ``submission.csv`` with columns ``id,target``."""
    path = Path(os.environ["RSI_OUTPUT_DIR"]) / "submission.csv"
    pd.DataFrame({"id": ids, "target": predictions}).to_csv(path, index=False)
    return path


def solve(config: dict) -> Path:
    """The whole solution: load, fit, predict, write the submission."""
    train, test = load()
    return write_submission(test["id"], fit_predict(config, train, test))
