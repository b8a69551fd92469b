"""Breast-cancer diagnosis from cell-nucleus measurements (scikit-learn's bundled Wisconsin set)."""
import numpy as np
from sklearn.datasets import load_breast_cancer

from rsigym.envs.toy.task import TabularData, split_table


def build(rng: np.random.Generator, scale: str) -> TabularData:
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features.columns = [name.replace(" ", "_") for name in features.columns]
    malignant = 1 - target.to_numpy()  # scikit-learn codes malignant as 0
    return split_table(features, malignant, rng, test_fraction=0.4, stratify=True)
