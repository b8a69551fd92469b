"""The calibrated L(N) forecaster, velocity on best-so-far, and `rsigym predict`, on the shipped run corpus."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rsigym.analysis.curves import MIN_COMPUTE_SECONDS_FOR_RATE, Curve, curve_metrics
from rsigym.analysis.forecast import (LEVELS, METHODS, MIN_K, ForecastError, crps, forecast, score_runs,
                                      summarise_scores, train)
from rsigym.analysis.runlog import load_runs
from rsigym.loss import LOSS_MIN

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "benchmarks" / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
RESULTS = ROOT / "benchmarks" / "data" / "forecast_backtest.json"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """The corpus's run folders, unpacked from benchmarks/data/corpus/runs.tar.gz."""
    into = tmp_path_factory.mktemp("corpus")
    with tarfile.open(CORPUS / "runs.tar.gz") as tar:
        tar.extractall(into, filter="data")
    return into / "runs"


def as_curve(loss, compute_per_iteration: float = 60.0) -> Curve:
    t = np.arange(len(loss))
    return Curve(t, t * compute_per_iteration, loss)


def corpus_runs(runs_dir: Path, split: str) -> list:
    names = [entry["name"] for entry in MANIFEST["runs"] if entry["split"] == split]
    return load_runs([runs_dir / name for name in names])


CURVES = {
    "falling": [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.42, 0.41, 0.40],
    "flat": [0.5] * 9,
    "noisy": [0.9, 1.4, 0.6, 2.0, 0.55, 0.8, 0.7, 0.5, 0.9],
    "below reference": [0.3, 0.1, 0.02, -0.01, -0.02, -0.02, -0.03, -0.03, -0.03],
}


@pytest.mark.parametrize("name", CURVES)
@pytest.mark.parametrize("method", METHODS)
def test_forecasts_never_rise_with_n_and_stay_within_bounds(name, method):
    curve = as_curve(CURVES[name])
    best_k = float(np.min(CURVES[name]))
    previous = None
    for horizon in (8, 9, 12, 16, 32, 64, 200):
        result = forecast(curve, horizon, k=8, method=method)
        quantiles = np.array(result.quantiles)
        assert len(quantiles) == len(LEVELS) and np.all(np.diff(quantiles) >= 0)
        assert LOSS_MIN <= result.low <= result.value <= result.high <= best_k
        if previous is not None:  # best-so-far cannot rise: neither may any quantile
            assert np.all(quantiles <= previous + 1e-12)
        previous = quantiles


def test_a_flat_curve_gets_an_interval_of_nonzero_width():
    # The case: a flat curve gave 0.5119 [0.5119, 0.5119]. Flat curves in the corpus
    # sometimes improve later, so the data-derived interval must leave room below.
    result = forecast(as_curve([0.5119] * 13), 100, k=12)
    assert result.high == pytest.approx(0.5119)
    assert result.low < result.high


def test_below_minimum_k_is_a_clear_error():
    curve = as_curve(CURVES["falling"])
    with pytest.raises(ForecastError, match=f"at least k = {MIN_K}"):
        forecast(curve, 16, k=MIN_K - 1)
    with pytest.raises(ForecastError, match="before"):
        forecast(curve, 5, k=8)
    assert forecast(curve, 16, k=MIN_K).k == MIN_K


def test_crps_of_a_point_forecast_is_its_absolute_error():
    assert crps(0.3, [0.5] * len(LEVELS)) == pytest.approx(0.2)
    spread = np.linspace(0.2, 0.4, len(LEVELS))
    assert crps(0.3, spread) < crps(0.3, [0.5] * len(LEVELS))


def test_velocity_is_on_best_so_far_unless_final_is_asked_for():
    # The case: best 0.068 and a final 0.722 must not score like a run that ended at 0.722.
    curve = as_curve([0.9, 0.068, 0.5, 0.722])
    assert curve_metrics(curve).velocity == pytest.approx((0.9 - 0.068) / 3)
    assert curve_metrics(curve, on="final").velocity == pytest.approx((0.9 - 0.722) / 3)
    with pytest.raises(ValueError, match="best"):
        curve_metrics(curve, on="median")


def test_velocity_per_compute_hour_needs_a_minimum_of_compute():
    # 1.6 s of compute read as ~1,900 per hour before; now it is not reported.
    short = curve_metrics(as_curve([0.9, 0.5, 0.4], compute_per_iteration=0.8))
    assert math.isnan(short.velocity_per_compute_hour)
    long = curve_metrics(as_curve([0.9, 0.5, 0.4], compute_per_iteration=MIN_COMPUTE_SECONDS_FOR_RATE))
    assert long.velocity_per_compute_hour == pytest.approx(0.5 / (2 * MIN_COMPUTE_SECONDS_FOR_RATE / 3600))


def test_corpus_is_large_and_split_by_agent_and_task(runs_dir):
    assert MANIFEST["n_runs"] >= 200 and MANIFEST["generation_seconds"] > 0
    assert {entry["agent"] for entry in MANIFEST["runs"]} >= {"random", "greedy", "search", "llm"}
    for entry in MANIFEST["runs"]:
        unseen = entry["agent"] in MANIFEST["held_out_agents"] or set(entry["tasks"]) & set(MANIFEST["held_out_tasks"])
        assert (entry["split"] == "held_out") == bool(unseen)
        (run,) = load_runs([runs_dir / entry["name"]])
        assert run.agent == entry["agent"] and run.budget == entry["budget"] and sorted(run.tasks) == sorted(entry["tasks"])


def test_rsigym_predict_on_corpus_runs(runs_dir):
    runs = sorted(runs_dir.iterdir())[:2]
    done = subprocess.run([sys.executable, "-m", "rsigym", "predict", *map(str, runs), "--n", "100"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines()[1:] if line.strip()]
    assert len(lines) == 2
    for line in lines:
        assert "[" in line and line.split()[-1] in METHODS
    too_short = subprocess.run([sys.executable, "-m", "rsigym", "predict", str(runs[0]), "--n", "100", "--k", "2"],
                               capture_output=True, text=True, timeout=300)
    assert too_short.returncode == 2 and f"at least k = {MIN_K}" in too_short.stderr


def test_backtest_on_a_slice_matches_the_recorded_order_of_magnitude(runs_dir):
    recorded = json.loads(RESULTS.read_text())["summaries"]["all held-out runs"]
    cases = score_runs(corpus_runs(runs_dir, "held_out")[::4])
    summary = summarise_scores(cases)
    assert summary["n"] >= 10
    for key in ("crps", "persistence_crps"):
        assert recorded[key] / 5 <= summary[key] <= recorded[key] * 5, key
    assert abs(summary["coverage_80"] - recorded["coverage_80"]) < 0.3


def test_training_keeps_the_method_with_the_best_cross_validated_crps(runs_dir):
    model = train(corpus_runs(runs_dir, "train")[::8], folds=3)
    assert set(model.cv_scores) == set(METHODS)
    assert model.method == min(METHODS, key=lambda m: model.cv_scores[m]["crps"])
    assert all(0 <= scores["coverage"] <= 1 for scores in model.cv_scores.values())


def test_leaderboard_shows_the_forecast_at_twice_the_budget(runs_dir):
    from rsigym.analysis.leaderboard import leaderboard

    runs = corpus_runs(runs_dir, "train")[:6]
    for entry in leaderboard(runs):
        best = np.mean([np.nanmin(summary.run.curve().best) for summary in entry.runs])
        assert math.isfinite(entry.forecast_2x_budget)
        assert LOSS_MIN <= entry.forecast_2x_budget <= best + 1e-9
