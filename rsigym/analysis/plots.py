"""PNG plots of curves, fits, predictions, horizons, laws, backtests and meta-velocity.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
are safe to make from a wrapper inside a training loop. Every figure carries a title, axis
labels and a caption under the axes that says what its marks and intervals mean, so a PNG
read on its own is not misread.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from rsigym.analysis.curves import Curve
from rsigym.analysis.horizon import Attempt, HorizonFit
from rsigym.analysis.laws import LawFit
from rsigym.analysis.learned import Comparison
from rsigym.analysis.meta import MetaVelocity
from rsigym.analysis.predict import Prediction
from rsigym.analysis.runlog import Run


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _caption(figure: Figure, text: str) -> None:
    """A small caption under the axes (kept in the PNG by the tight bounding box)."""
    figure.text(0.5, 0.0, text, ha="center", va="top", fontsize=7, color="0.25", wrap=True)


def minutes_label(minutes: float) -> str:
    """A duration in minutes as people read it: ``30 s``, ``1 min``, ``4 h``, ``2 d``."""
    for unit, size in (("d", 1440.0), ("h", 60.0), ("min", 1.0)):
        if minutes >= size:
            return f"{minutes / size:.3g} {unit}"
    return f"{minutes * 60:.3g} s"


CURVE_CAPTION = ("faint: public loss at each evaluation; steps: best so far; dashed: fit on the first k iterations; "
                 "dotted: its extrapolation; dot with bar: predicted best loss at N, 80 % residual-bootstrap interval")


def _draw_curve(ax, curve: Curve, x: str, color, label: str | None, raw_label: str | None = None) -> None:
    xs = curve.iteration if x == "iteration" else curve.compute_elapsed
    ax.plot(xs, curve.loss, color=color, alpha=0.3, lw=1, label=raw_label)
    ax.step(xs, curve.best, where="post", color=color, lw=1.8, label=label)


def _draw_prediction(ax, prediction: Prediction, color, labelled: bool = False) -> None:
    from rsigym.analysis.fits import FAMILIES

    t = np.linspace(0, prediction.horizon, 200)
    values = FAMILIES[prediction.family].func(t, *prediction.params.values())
    ax.plot(t[t <= prediction.k], values[t <= prediction.k], color=color, ls="--", lw=1,
            label=f"{prediction.family} fit on 0..{prediction.k}" if labelled else None)
    ax.plot(t[t >= prediction.k], values[t >= prediction.k], color=color, ls=":", lw=1)
    ax.errorbar([prediction.horizon], [prediction.value], fmt="o", ms=4, color=color, capsize=3,
                yerr=[[prediction.value - prediction.low], [prediction.high - prediction.value]],
                label=f"predicted best L({prediction.horizon}), 80 %" if labelled else None)
    ax.axvline(prediction.k, color="grey", lw=0.5, ls="--")


def run_title(run: Run) -> str:
    """Who made a curve: ``agent+model · seed s · env``."""
    return " · ".join([run.label, f"seed {run.seed}", run.env_id or "?"])


def curve_figure(curve: Curve, prediction: Prediction | None = None, title: str = "Improvement curve") -> Figure:
    """One improvement curve: raw loss (faint), best-so-far (step) and an optional fit and prediction."""
    figure = Figure(figsize=(5, 3.2), layout="constrained")
    ax = figure.subplots()
    _draw_curve(ax, curve, "iteration", "C0", "best so far", "loss at evaluation")
    if prediction is not None:
        _draw_prediction(ax, prediction, "C3", labelled=True)
    ax.set(xlabel="iteration", ylabel="public suite loss", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _caption(figure, CURVE_CAPTION if prediction is not None else
             "faint: public loss at each evaluation; steps: best so far (no intervals: one run)")
    return figure


def plot_curves(groups: Mapping[str, Sequence[Run]], path: str | Path, x: str = "iteration",
                predictions: Mapping[str, Prediction] | None = None, title: str | None = None) -> Path:
    """One panel per agent+model with every seed's curve; fits and predictions by run key when given."""
    labels = list(groups)
    columns = min(3, len(labels))
    rows = math.ceil(len(labels) / columns)
    # Constrained layout: in two or more rows the x label of one row would cover the next row's title.
    figure = Figure(figsize=(4.6 * columns, 3.4 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
    for ax, label in zip(axes, labels):
        for i, run in enumerate(groups[label]):
            color = f"C{i % 10}"
            _draw_curve(ax, run.curve(), x, color, f"seed {run.seed}")
            if predictions and run.key in predictions and x == "iteration":
                _draw_prediction(ax, predictions[run.key], color)
        ax.set(title=label, xlabel="iteration" if x == "iteration" else "compute seconds after the starter's evaluation")
        if x == "iteration":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("public suite loss")
    figure.suptitle(title or ("Improvement curves per agent+model" if x == "iteration"
                              else "Improvement curves over compute per agent+model"))
    shown = CURVE_CAPTION if predictions and x == "iteration" else \
        "faint: public loss at each evaluation; steps: best so far; one colour per seed"
    _caption(figure, shown)
    return _save(figure, path)


def plot_velocity(labels: Sequence[str], means: Sequence[float], intervals: Sequence[tuple[float, float]],
                  path: str | Path, interval_caption: str = "whiskers: Student-t 95 % CI over seeds "
                                                            "(none with a single seed)") -> Path:
    """Velocity per agent+model with its interval over seeds."""
    figure = Figure(figsize=(max(4.5, 1.2 + 1.1 * len(labels)), 3.4), layout="constrained")
    ax = figure.subplots()
    means = np.asarray(means)
    low = np.array([m - lo for m, (lo, _) in zip(means, intervals)])
    high = np.array([hi - m for m, (_, hi) in zip(means, intervals)])
    ax.bar(range(len(labels)), means, yerr=[np.nan_to_num(low), np.nan_to_num(high)], capsize=4, color="C0")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xlabel="agent+model", ylabel="velocity (loss gain / iteration)", title="Velocity per agent+model")
    ax.grid(alpha=0.3, axis="y")
    _caption(figure, f"bars: mean over seeds (first episode of each run); {interval_caption}")
    return _save(figure, path)


def plot_horizon(fit: HorizonFit, attempts: Sequence[Attempt], path: str | Path, title: str = "") -> Path:
    """Success against human minutes: jittered attempts, the logistic fit and the 50 %/80 % horizons."""
    figure = Figure(figsize=(5, 3.6), layout="constrained")
    ax = figure.subplots()
    rng = np.random.default_rng(0)
    minutes = np.array([a.human_minutes for a in attempts])
    success = np.array([a.success for a in attempts], dtype=float)
    ax.scatter(minutes * 2 ** rng.uniform(-0.15, 0.15, len(minutes)), success + rng.uniform(-0.04, 0.04, len(minutes)),
               s=12, alpha=0.5, color="C0", label="attempts")
    low, high = np.log2(min(minutes.min(), 1.0)), np.log2(max(minutes.max() * 4, 240.0))
    grid = 2 ** np.linspace(low, high, 200)
    ax.plot(grid, fit.probability(grid), color="C3", label="logistic fit")
    for p, h, interval, ls in ((0.5, fit.h50, fit.h50_interval, "--"), (0.8, fit.h80, fit.h80_interval, ":")):
        if math.isfinite(h) and grid[0] <= h <= grid[-1]:
            ax.axvline(h, color="grey", ls=ls, lw=1, label=f"{int(p * 100)}% horizon {minutes_label(h)}")
            lo, hi = (np.clip(v, grid[0], grid[-1]) for v in interval)
            ax.axvspan(lo, hi, color="grey", alpha=0.12)
    ax.set_xscale("log", base=2)
    ticks = [t for t in _MINUTE_TICKS if grid[0] <= t <= grid[-1]]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: minutes_label(value)))
    ax.set(xlabel="time a human needs for the task", ylabel="P(success)", ylim=(-0.08, 1.08),
           title=f"Time horizon ({title})" if title else "Time horizon")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _caption(figure, "dots: one attempt (run × task), jittered; line: logistic fit; "
                     "shaded: 95 % bootstrap CI of each horizon over attempts")
    return _save(figure, path)


# Round durations for the horizon axis: 1 min to a week.
_MINUTE_TICKS = (0.25, 1, 4, 15, 60, 240, 960, 2880, 10080)


def plot_law(law: LawFit, path: str | Path) -> Path:
    """Points and the fitted ``a·x^b`` on log-log axes."""
    figure = Figure(figsize=(5, 3.6), layout="constrained")
    ax = figure.subplots()
    labels = law.labels or ("runs",) * law.n
    for i, label in enumerate(dict.fromkeys(labels)):
        points = [(x, y) for x, y, lab in zip(law.x, law.y, labels) if lab == label]
        ax.scatter(*zip(*points), color=f"C{i % 10}", s=16, label=label)
    grid = np.geomspace(min(law.x), max(law.x), 100)
    b_low, b_high = law.b_interval
    ax.plot(grid, law(grid), color="black", lw=1, label=f"{law.a:.3g}·x^{law.b:.2f}  (b ∈ [{b_low:.2f}, {b_high:.2f}])")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel=law.covariate, ylabel=law.metric, title=f"{law.metric} vs {law.covariate} (n={law.n})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    _caption(figure, "dots: one run each; line: least-squares fit in log-log space; "
                     "b interval: Student-t 95 % CI of the exponent")
    return _save(figure, path)


def plot_backtest(comparisons: Sequence[Comparison], path: str | Path) -> Path:
    """Held-out mean absolute error of each predictor against the fitting window k."""
    figure = Figure(figsize=(5, 3.4), layout="constrained")
    ax = figure.subplots()
    ks = [c.k for c in comparisons]
    for name, values in (("parametric fit", [c.parametric_mae for c in comparisons]),
                         ("learned (ridge)", [c.learned_mae for c in comparisons]),
                         ("persistence", [c.persistence_mae for c in comparisons])):
        ax.plot(ks, values, marker="o", label=name)
    ax.set(xlabel="iterations fitted (k)", ylabel="|predicted − actual| best loss at N",
           title="Prediction error against the fitting window")
    # Integer ticks at the windows themselves; one window alone gets a margin of one iteration each side.
    ax.xaxis.set_major_locator(FixedLocator(ks) if len(ks) <= 12 else MaxNLocator(integer=True))
    if len(set(ks)) == 1:
        ax.set_xlim(ks[0] - 1, ks[0] + 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _caption(figure, "points: mean absolute error over held-out runs at each k (no intervals)")
    return _save(figure, path)


def plot_meta(metas: Sequence[MetaVelocity], path: str | Path) -> Path:
    """Velocity per episode for each carried-over run."""
    figure = Figure(figsize=(5, 3.4), layout="constrained")
    ax = figure.subplots()
    for i, meta in enumerate(metas):
        ax.plot(meta.episodes, meta.velocities, marker="o", color=f"C{i % 10}", label=f"{meta.label}: {meta.run_id}")
    ax.set(xlabel="episode", ylabel="velocity (loss gain / iteration)", title="Meta-velocity: velocity per episode")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _caption(figure, "points: velocity of each episode of a run whose harness carries over (no intervals)")
    return _save(figure, path)
