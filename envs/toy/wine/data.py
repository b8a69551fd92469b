"""Wine cultivar from chemical analysis (scikit-learn's bundled UCI wine set)."""
import numpy as np
from sklearn.datasets import load_wine

from rsigym.envs.toy.task import TabularData, split_table


def build(rng: np.random.Generator, scale: str) -> TabularData:
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [name.replace("/", "_") for name in features.columns]
    return split_table(features, target.to_numpy(), rng, test_fraction=0.4, stratify=True)
