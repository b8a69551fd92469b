"""Synthetic house sales with real-world mess, generated from the instance secret.

The price is a log-linear function of size, neighbourhood, age, condition and amenities, with
an interaction (pools only pay off in pricey neighbourhoods) and multiplicative noise, so the
target is right-skewed. The mess a real table has: missing values, sentinel years, areas
recorded in the wrong unit, inconsistent category spellings and duplicated training rows.
"""
import numpy as np
import pandas as pd

from rsigym.envs.toy.task import TabularData, split_table

ROWS = {"ci": 24_000, "full": 200_000}
CONDITIONS = ["poor", "fair", "good", "excellent"]
HEATING = ["gas", "electric", "oil", "heat_pump"]


def _misspell(values: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Upper-case or pad a fraction of category labels, as hand-entered data does."""
    values = values.astype(object)
    hit = rng.random(len(values)) < rate
    styles = rng.integers(0, 3, len(values))
    for i in np.flatnonzero(hit):
        values[i] = (values[i].upper(), values[i].title(), values[i] + " ")[styles[i]]
    return values


def build(rng: np.random.Generator, scale: str) -> TabularData:
    n = ROWS[scale]
    n_hoods = 30
    hood_effect = rng.normal(0, 0.35, n_hoods)
    hood_weights = 1 / np.arange(1, n_hoods + 1) ** 0.8
    hood = rng.choice(n_hoods, n, p=hood_weights / hood_weights.sum())
    sqft = np.exp(rng.normal(7.35, 0.35, n)) + 150 * hood_effect[hood].clip(0)
    bedrooms = np.clip(np.round(sqft / 550 + rng.normal(0, 0.7, n)), 1, 7)
    bathrooms = np.clip(np.round(bedrooms * 0.6 + rng.normal(0, 0.5, n)), 1, 5)
    year = np.clip(rng.normal(1975, 25, n).round(), 1880, 2024)
    condition = rng.choice(4, n, p=[0.1, 0.3, 0.45, 0.15])
    heating = rng.choice(4, n, p=[0.5, 0.3, 0.1, 0.1])
    garage = rng.choice(3, n, p=[0.25, 0.45, 0.3])
    pool = rng.random(n) < 0.08
    lot = np.exp(rng.normal(8.6, 0.6, n))
    distance = np.abs(rng.normal(12, 8, n)) + 0.5
    log_price = (
        12.1
        + 0.85 * np.log(sqft / 1600)
        + hood_effect[hood]
        + 0.09 * (condition - 1.5)
        - 0.0025 * (2024 - year)
        + 0.0009 * np.maximum(0, year - 2005) * 10
        + 0.05 * garage
        + 0.04 * (heating == 3)
        + 0.12 * pool * (hood_effect[hood] > 0.2)
        + 0.08 * np.log(lot / 5400)
        - 0.012 * distance
        + rng.normal(0, 0.14, n)
    )
    price = np.round(np.exp(log_price), -2)

    table = pd.DataFrame(
        {
            "neighborhood": np.array([f"nb_{i:02d}" for i in range(n_hoods)])[hood],
            "sqft": sqft.round(),
            "lot_sqft": lot.round(),
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "year_built": year,
            "condition": np.array(CONDITIONS, dtype=object)[condition],
            "heating": _misspell(np.array(HEATING, dtype=object)[heating], rng, 0.06),
            "garage_cars": garage.astype(float),
            "has_pool": np.where(pool, "yes", "no"),
            "distance_km": distance.round(2),
        }
    )
    metric_units = rng.random(n) < 0.02  # some listings give square metres
    table.loc[metric_units, "sqft"] = (table.loc[metric_units, "sqft"] / 10.764).round()
    table.loc[rng.random(n) < 0.01, "year_built"] = 0  # sentinel for "unknown"
    for column, rate in {"sqft": 0.03, "year_built": 0.05, "garage_cars": 0.05, "condition": 0.08, "heating": 0.1, "lot_sqft": 0.04}.items():
        table.loc[rng.random(n) < rate, column] = np.nan
    data = split_table(table, price, rng, test_fraction=0.25, stratify=False)
    duplicates = data.train.sample(frac=0.01, random_state=rng)
    train = pd.concat([data.train, duplicates.assign(id=duplicates["id"] + 1_000_000)], ignore_index=True)
    return data._replace(train=train.sample(frac=1.0, random_state=rng).reset_index(drop=True))
