"""Diabetes progression one year after baseline (scikit-learn's bundled set, raw units)."""
import numpy as np
from sklearn.datasets import load_diabetes

from rsigym.envs.toy.task import TabularData, split_table


def build(rng: np.random.Generator, scale: str) -> TabularData:
    features, target = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return split_table(features, target.to_numpy(), rng, test_fraction=0.4, stratify=False)
