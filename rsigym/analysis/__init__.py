"""Velocity analysis of run logs (defined in docs/analysis.md): curves, metrics, fits, prediction, horizons, laws.

Everything is derived from ``log.jsonl`` files, so any run can be re-analysed::

    from rsigym.analysis import load_runs, curve_metrics, predict
    runs = load_runs(["runs/greedy-0"])
    curve_metrics(runs[0].curve()).velocity
    predict(runs[0], k=6, horizon=12)      # calibrated forecast of best-so-far L(12) from iterations 0..6
"""
from rsigym.analysis.curves import Curve, CurveMetrics, attribute_gain, curve_metrics
from rsigym.analysis.fits import FAMILIES, Fit, fit_curve, fit_family
from rsigym.analysis.forecast import MIN_K, Forecast, ForecastError, forecast
from rsigym.analysis.horizon import HorizonFit, fit_horizon, run_horizon, task_attempts
from rsigym.analysis.laws import LawFit, fit_power_law, law_over_runs
from rsigym.analysis.leaderboard import Entry, leaderboard
from rsigym.analysis.learned import LearnedPredictor, compare_predictors
from rsigym.analysis.meta import MetaVelocity, meta_velocity
from rsigym.analysis.predict import Prediction, backtest, predict, summarise_backtest
from rsigym.analysis.runlog import Run, load_runs, read_runs

__all__ = [
    "Curve", "CurveMetrics", "attribute_gain", "curve_metrics",
    "FAMILIES", "Fit", "fit_curve", "fit_family",
    "MIN_K", "Forecast", "ForecastError", "forecast",
    "HorizonFit", "fit_horizon", "run_horizon", "task_attempts",
    "LawFit", "fit_power_law", "law_over_runs",
    "Entry", "leaderboard",
    "LearnedPredictor", "compare_predictors",
    "MetaVelocity", "meta_velocity",
    "Prediction", "backtest", "predict", "summarise_backtest",
    "Run", "load_runs", "read_runs",
]
