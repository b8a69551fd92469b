import math

import numpy as np
import pytest

from rsigym.analysis.meta import meta_velocity
from rsigym.analysis.runlog import load_runs


def test_velocity_per_episode_and_ratios(make_log, tmp_path):
    # Three episodes of 10 iterations with gains 0.2, 0.3, 0.45: ratios 1.5 and 1.5.
    make_log("carry", [np.linspace(1.0, 1.0 - gain, 11) for gain in (0.2, 0.3, 0.45)], agent="llm")
    make_log("single", [np.linspace(1.0, 0.5, 11)])
    (meta,) = meta_velocity(load_runs([tmp_path]))
    assert meta.run_id == "carry" and meta.episodes == (0, 1, 2)
    np.testing.assert_allclose(meta.velocities, [0.02, 0.03, 0.045])
    np.testing.assert_allclose(meta.ratios, [1.5, 1.5])
    assert meta.mean_ratio == pytest.approx(1.5)


def test_ratio_undefined_after_no_progress(make_log, tmp_path):
    make_log("stall", [[1.0, 1.0, 1.0], [1.0, 0.9, 0.8]])
    (meta,) = meta_velocity(load_runs([tmp_path]))
    assert math.isnan(meta.ratios[0]) and math.isnan(meta.mean_ratio)
