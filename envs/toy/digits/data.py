"""Handwritten digits (8x8 images, scikit-learn's bundled copy of the UCI set)."""
import numpy as np
from sklearn.datasets import load_digits

from rsigym.envs.toy.task import TabularData, split_table


def build(rng: np.random.Generator, scale: str) -> TabularData:
    features, target = load_digits(return_X_y=True, as_frame=True)
    features.columns = [f"pixel_{i}" for i in range(features.shape[1])]
    return split_table(features, target.to_numpy(), rng, test_fraction=0.4, stratify=True)
