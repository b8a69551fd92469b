"""Backtest the L(N) forecaster on the corpus's held-out runs, against persistence and a linear trend.

    .venv/bin/python benchmarks/forecast_backtest.py --write-model   # retrain rsigym/analysis/forecast_model.json
    .venv/bin/python benchmarks/forecast_backtest.py                 # score the shipped model

The model is trained on the corpus's ``train`` runs only (benchmarks/data/corpus/manifest.json);
every held-out run (an agent or a task the training never saw) is forecast at k = N/4, N = its
budget. Writes ``benchmarks/data/forecast_backtest.json`` (the numbers docs/analysis.md quotes),
``docs/img/forecast_backtest.png``, and prints the Markdown tables. It also re-checks, on the
whole corpus, the velocity law against the iteration budget (with 95 % intervals).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from rsigym.analysis.curves import curve_metrics
from rsigym.analysis.forecast import (LEVELS, METHODS, MODEL_PATH, ForecastModel, crps, relative_error, score_runs,
                                      summarise_scores, train)
from rsigym.analysis.laws import fit_power_law
from rsigym.analysis.meta import meta_velocity
from rsigym.analysis.runlog import Run, load_runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import unpack  # noqa: E402  (a sibling script, not a package)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "data" / "corpus"
RESULTS = ROOT / "benchmarks" / "data" / "forecast_backtest.json"
FIGURE = ROOT / "docs" / "img" / "forecast_backtest.png"
FAR_FROM_REFERENCE = 0.1


def corpus_split(corpus: Path = CORPUS) -> tuple[list[Run], list[Run], dict]:
    """(train runs, held-out runs, manifest) of the corpus (unpacking ``runs.tar.gz`` there first if needed)."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    split = {entry["name"]: entry["split"] for entry in manifest["runs"]}
    runs = load_runs([unpack(corpus) / "runs" / name for name in split])
    train_runs = [run for run in runs if split[run.path.parent.name] == "train"]
    held_out = [run for run in runs if split[run.path.parent.name] == "held_out"]
    return train_runs, held_out, manifest


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table of summaries: model against persistence and linear."""
    lines = ["| held-out slice | runs | median rel. error model / persistence / linear | "
             "CRPS model / persistence / linear | CRPS gain vs persistence | 80 % coverage |",
             "|---|---|---|---|---|---|"]
    for name, s in rows:
        lines.append(f"| {name} | {s['n']} | {_fmt(s['median_relative_error'])} / "
                     f"{_fmt(s['persistence_median_relative_error'])} / {_fmt(s['linear_median_relative_error'])} | "
                     f"{_fmt(s['crps'], 4)} / {_fmt(s['persistence_crps'], 4)} / {_fmt(s['linear_crps'], 4)} | "
                     f"{_fmt(100 * s['crps_gain_over_persistence'], 0)} % | {_fmt(100 * s['coverage_80'], 0)} % |")
    return "\n".join(lines)


def velocity_laws(runs: list[Run]) -> list[dict]:
    """Velocity on best-so-far (and on the final loss) against the budget, per agent, with 95 % intervals."""
    out = []
    for agent in sorted({run.agent for run in runs}):
        mine = [run for run in runs if run.agent == agent and run.budget]
        for on in ("best", "final"):
            try:
                law = fit_power_law([run.budget for run in mine], [curve_metrics(run.curve(), on=on).velocity
                                                                  for run in mine], covariate="budget",
                                    metric=f"velocity_{on}")
            except ValueError as err:
                out.append({"agent": agent, "on": on, "error": str(err)})
                continue
            out.append({"agent": agent, "on": on, "n": law.n, "dropped": law.dropped, "b": law.b,
                        "b_low": law.b_interval[0], "b_high": law.b_interval[1], "r2": law.r2})
    return out


def plot(cases, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    actual = np.array([c.actual for c in cases])
    value = np.array([c.value for c in cases])
    low = np.array([c.quantiles[LEVELS.index(0.1)] for c in cases])
    high = np.array([c.quantiles[LEVELS.index(0.9)] for c in cases])
    persistence = np.array([c.persistence for c in cases])
    axes[0].errorbar(actual, value, yerr=[value - low, high - value], fmt="o", ms=3, alpha=0.5, label="forecast, 80 %")
    axes[0].plot(actual, persistence, "x", ms=4, alpha=0.6, label="persistence best(k)")
    lims = [min(actual.min(), low.min()) - 0.02, max(actual.max(), persistence.max()) + 0.02]
    axes[0].plot(lims, lims, "k--", lw=1)
    axes[0].set(xlabel="actual best loss at N", ylabel="forecast from k = N/4", title="Held-out runs")
    axes[0].legend()
    errors = {"model": [relative_error(c.value, c.actual) for c in cases],
              "persistence": [relative_error(c.persistence, c.actual) for c in cases],
              "linear": [relative_error(c.linear, c.actual) for c in cases]}
    crpss = {"model": [crps(c.actual, c.quantiles) for c in cases],
             "persistence": [abs(c.persistence - c.actual) for c in cases],
             "linear": [abs(c.linear - c.actual) for c in cases]}
    x = np.arange(3)
    axes[1].bar(x - 0.2, [np.median(v) for v in errors.values()], 0.4, label="median relative error")
    axes[1].bar(x + 0.2, [np.mean(v) for v in crpss.values()], 0.4, label="mean CRPS")
    axes[1].set_xticks(x, list(errors))
    axes[1].set(title="Scores on held-out runs (lower is better)")
    axes[1].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--write-model", action="store_true", help=f"retrain and write {MODEL_PATH.name} first")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args(argv)
    train_runs, held_out, manifest = corpus_split(args.corpus)
    started = time.monotonic()
    if args.write_model:
        model = train(train_runs)
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=1) + "\n")
    else:
        model = ForecastModel.from_json(json.loads(MODEL_PATH.read_text()))
    print(f"corpus: {len(train_runs)} train runs, {len(held_out)} held out; model: {model.method} "
          f"(cross-validated on {model.n_examples} cases from {model.n_runs} training runs)")
    print("cross-validated CRPS on the training corpus: "
          + ", ".join(f"{m} {model.cv_scores[m]['crps']:.4f} (80 % cov. {100 * model.cv_scores[m]['coverage']:.0f} %)"
                      for m in METHODS if m in model.cv_scores))
    cases = score_runs(held_out, model)
    agent_of = {run.key: run for run in held_out}
    held_agents, held_tasks = set(manifest["held_out_agents"]), set(manifest["held_out_tasks"])
    by_agent = [c for c in cases if agent_of[c.run].agent in held_agents]
    by_task = [c for c in cases if agent_of[c.run].agent not in held_agents]
    rows = [("all held-out runs", summarise_scores(cases))]
    if by_agent:
        rows.append((f"unseen agent ({', '.join(sorted(held_agents))})", summarise_scores(by_agent)))
    if by_task:
        rows.append((f"seen agents, unseen task ({', '.join(sorted(held_tasks))})", summarise_scores(by_task)))
    # Relative error is large wherever the loss is near the reference (0); this slice shows it away from there.
    far = [c for c in cases if abs(c.actual) >= FAR_FROM_REFERENCE]
    if far:
        rows.append((f"held-out runs with abs(best(N)) ≥ {FAR_FROM_REFERENCE}", summarise_scores(far)))
    per_method = {method: summarise_scores(score_runs(held_out, model, method=method)) for method in METHODS}
    laws = velocity_laws(train_runs + held_out)
    metas = meta_velocity(train_runs + held_out)
    seconds = time.monotonic() - started
    print(table(rows))
    print("\nEvery method, calibrated the same way, on all held-out runs:")
    print(table([(method, s) for method, s in per_method.items()]))
    print("\nVelocity against budget, v ≈ a·budget^b (95 % interval of b):")
    for law in laws:
        print(f"  {law['agent']:>8} on {law['on']:<5} " + (law.get("error") or
              f"b = {law['b']:+.2f} [{law['b_low']:+.2f}, {law['b_high']:+.2f}], n = {law['n']}, r² = {law['r2']:.2f}"))
    print(f"meta-velocity: {len(metas)} runs with two or more episodes in the corpus")
    args.results.write_text(json.dumps({
        "command": "python benchmarks/forecast_backtest.py" + (" --write-model" if args.write_model else ""),
        "method": model.method, "fraction": 0.25, "cv_scores": model.cv_scores,
        "summaries": dict(rows), "per_method": per_method, "velocity_laws": laws,
        "corpus_generation_seconds": manifest.get("generation_seconds"), "seconds": round(seconds, 1),
    }, indent=1) + "\n")
    plot(cases, args.figure)
    print(f"-> {args.results}, {args.figure} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
