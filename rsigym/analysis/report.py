"""``rsigym leaderboard`` and ``rsigym report``: Markdown, CSV, PNG plots and TensorBoard summaries."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rsigym.analysis import markdown as md
from rsigym.analysis.curves import ATTRIBUTION_KINDS, curve_metrics
from rsigym.analysis.horizon import HorizonFit, degenerate_reason, fit_horizon, task_attempts
from rsigym.analysis.laws import law_over_runs, numeric_covariates
from rsigym.analysis.leaderboard import Entry, Setup, first_episodes, leaderboard, setups
from rsigym.analysis.learned import compare_predictors
from rsigym.analysis.meta import meta_velocity
from rsigym.analysis.predict import Prediction, backtest, default_ks, predict_curve, summarise_backtest
from rsigym.analysis.runlog import Run
from rsigym.analysis import plots


@dataclass(frozen=True)
class Options:
    """What the reports compute: success threshold and split for horizons, bootstrap sizes."""

    threshold: float = 0.5
    split: str = "private"
    n_boot: int = 200
    tensorboard_dir: Path | None = None

    @property
    def prediction_boot(self) -> int:
        """Curve-fit bootstraps refit four families each, so they get a quarter of the resamples."""
        return max(10, self.n_boot // 4)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "run"


def _predictions(runs: Sequence[Run], options: Options) -> dict[str, Prediction]:
    """Each run's best loss at its last iteration, predicted from its first half."""
    predictions = {}
    for run in runs:
        curve = run.curve()
        horizon = int(curve.iteration[-1])
        k = horizon // 2
        if len(curve.upto(k)) >= 5:
            predictions[run.key] = predict_curve(curve, k, horizon, n_boot=options.prediction_boot)
    return predictions


def _run_rows(runs: Sequence[Run]) -> tuple[list[str], list[list]]:
    header = ["run", "agent+model", "seed", "episode", "iterations", "compute_s", "initial_loss", "final_loss",
              "best_loss", "private_loss", "gain", "gap_closed", "velocity", "velocity_per_compute_hour", "t_half",
              "auc_best"] + [f"gain_{kind}" for kind in ATTRIBUTION_KINDS] + [
              "env", "tasks", "budget", "scale", "prompt_tokens", "completion_tokens"]
    rows = []
    for run in runs:
        m = curve_metrics(run.curve())
        env_id, tasks, budget, scale = run.setup
        tokens = run.token_usage() or (None, None)
        rows.append([run.run_id, run.label, run.seed, run.episode, m.iterations, round(m.compute_hours * 3600, 2),
                     m.initial_loss, m.final_loss, m.best_loss, run.private_loss, m.gain, m.gap_closed, m.velocity,
                     m.velocity_per_compute_hour, m.t_half, m.auc_best] + [m.attribution[k] for k in ATTRIBUTION_KINDS]
                    + [env_id, " ".join(tasks), budget, scale, *tokens])
    return header, rows


def _horizon_text(fit: HorizonFit, p: float) -> str:
    """A horizon with its interval; beyond the observed task lengths, only the side it lies on."""
    if fit.successes in (0, fit.n):
        return "none solved" if fit.successes == 0 else "all solved"
    value, interval = (fit.h50, fit.h50_interval) if p == 0.5 else (fit.h80, fit.h80_interval)
    low, high = fit.minutes_range
    text = f"> {md.number(high)}" if value > high else f"< {md.number(low)}" if value < low else md.number(value)
    return f"{text} {md.interval(*interval)}"


def _entry_horizon(entry: Entry, options: Options) -> str:
    attempts = task_attempts([s.run for s in entry.runs], options.threshold, options.split)
    minutes, success = [a.human_minutes for a in attempts], [a.success for a in attempts]
    if degenerate_reason(minutes, success):
        solved = sum(success)
        return "—" if not attempts or len(set(minutes)) < 2 else "none solved" if solved == 0 else "all solved"
    return _horizon_text(fit_horizon(minutes, success, n_boot=options.n_boot), 0.5)


def _leaderboard_section(entries: list[Entry], options: Options) -> tuple[str, list[str], list[list]]:
    header = ["rank", "agent+model", "seeds", "velocity /iter", "95% CI", "velocity /compute-h", "95% CI",
              "gap closed", "final public", "final private", "private − public", "t½ (median)", "area",
              "50% horizon (min) [95% CI]", "forecast L(2×budget)"]
    rows, csv_rows = [], []
    for rank, e in enumerate(entries, start=1):
        horizon = _entry_horizon(e, options)
        rows.append([rank, e.label, len(e.runs), md.number(e.velocity), md.interval(*e.velocity_interval),
                     md.number(e.velocity_per_compute_hour), md.interval(*e.velocity_per_compute_hour_interval),
                     md.number(e.gap_closed), md.number(e.final_loss), md.number(e.private_loss),
                     md.number(e.private_public_gap), md.number(e.t_half), md.number(e.auc_best), horizon,
                     md.number(e.forecast_2x_budget)])
        csv_rows.append([rank, e.label, len(e.runs), " ".join(map(str, e.seeds)), e.velocity, *e.velocity_interval,
                         e.velocity_per_compute_hour, *e.velocity_per_compute_hour_interval, e.gap_closed,
                         e.final_loss, e.private_loss, e.private_public_gap, e.t_half, e.auc_best]
                        + [e.attribution[k] for k in ATTRIBUTION_KINDS] + [e.forecast_2x_budget])
    csv_header = ["rank", "agent_model", "runs", "seeds", "velocity", "velocity_low", "velocity_high",
                  "velocity_per_compute_hour", "vph_low", "vph_high", "gap_closed", "final_loss", "private_loss",
                  "private_public_gap", "t_half", "auc_best"] + [f"gain_{k}" for k in ATTRIBUTION_KINDS] + [
                  "forecast_2x_budget"]
    return md.table(header, rows), csv_header, csv_rows


def _roles_section(entries) -> list[str]:
    """Gain per role for factory (multi-agent) runs; nothing when there are none."""
    roles = sorted({role for e in entries for role in e.roles})
    if not roles:
        return []
    rows = [[e.label, *(md.number(e.roles.get(role, 0.0)) for role in roles)] for e in entries if e.roles]
    return ["### Attribution of the gain to factory roles", md.table(["agent+model", *roles], rows)]


def pooled_warning(runs: Sequence[Run]) -> str | None:
    """A warning when ``runs`` come from more than one setup (env, task set, budget, scale); else None."""
    groups = setups(runs)
    if len(groups) < 2:
        return None
    return (f"runs from {len(groups)} different setups (env, tasks, budget, scale) are pooled in one ranking; "
            "velocities are comparable only within a setup (see the per-setup rankings)")


def _setup_cells(setup: Setup) -> list[str]:
    env_id, tasks, budget, scale = setup
    return [env_id, ", ".join(tasks) or "—", "?" if budget is None else str(budget), scale or "?"]


def _setups_section(ranked: Sequence[Run], pairs: int) -> str:
    """The setups the runs come from; when there are several, a warning and a ranking per setup."""
    groups = setups(ranked)
    header = ["env", "tasks", "budget (iterations)", "scale", "runs", "agent+model pairs"]
    text = md.table(header, [[*_setup_cells(setup), len(group), len({r.label for r in group})]
                             for setup, group in groups.items()])
    warning = pooled_warning(ranked)
    if warning is None:
        return text
    text += f"\n\n**Warning:** {warning}. The ranking below pools all {len(ranked)} runs of {pairs} pairs."
    for setup, group in groups.items():
        rows = [[rank, e.label, len(e.runs), md.number(e.velocity), md.interval(*e.velocity_interval)]
                for rank, e in enumerate(leaderboard(group), start=1)]
        text += (f"\n\nSetup {' · '.join(_setup_cells(setup))}:\n\n"
                 + md.table(["rank", "agent+model", "seeds", "velocity /iter", "95% CI"], rows))
    return text


def _tokens_section(runs: Sequence[Run]) -> list[str]:
    """Total LLM tokens per agent+model over every episode whose records carry ``usage``; nothing otherwise."""
    totals: dict[str, list[int]] = {}
    for run in runs:
        usage = run.token_usage()
        if usage is not None:
            total = totals.setdefault(run.label, [0, 0, 0])
            total[0] += 1
            total[1] += usage[0]
            total[2] += usage[1]
    if not totals:
        return []
    rows = [[label, episodes, f"{prompt:,}", f"{completion:,}", f"{prompt + completion:,}"]
            for label, (episodes, prompt, completion) in sorted(totals.items())]
    return ["### Token usage", "Totals over every finished episode whose log records carry `usage`.\n\n"
            + md.table(["agent+model", "episodes", "prompt tokens", "completion tokens", "total tokens"], rows)]


def _prediction_section(runs: Sequence[Run], img: Path, options: Options) -> str:
    lengths = [int(run.curve().iteration[-1]) for run in runs]
    # Shorter runs (an agent that submitted early) simply contribute to fewer windows.
    ks = default_ks(int(np.median(lengths))) if lengths else []
    if not ks:
        return "Runs are too short (fewer than 5 iterations) to backtest predictions."
    summary = summarise_backtest(backtest(runs, ks, n_boot=options.prediction_boot))
    text = ("Each run's best public loss at its last iteration N, predicted from its first k iterations "
            "(fit chosen by AICc; 80 % residual-bootstrap interval), against persistence (L(N) = best(k)).\n\n")
    text += md.table(["k", "runs", "MAE fit", "MAE persistence", "80% interval coverage"],
                     [[s.k, s.n, md.number(s.mae), md.number(s.persistence_mae), md.number(s.coverage)]
                      for s in summary])
    try:
        comparisons = compare_predictors(runs, ks)
    except ValueError as err:
        return text + f"\n\nLearned predictor not compared: {err}."
    text += ("\n\nLearned predictor (ridge over curve features) against the parametric fit, "
             "cross-validated with runs held out:\n\n")
    text += md.table(["k", "held-out predictions", "MAE parametric", "MAE learned", "MAE persistence"],
                     [[c.k, c.n, md.number(c.parametric_mae), md.number(c.learned_mae), md.number(c.persistence_mae)]
                      for c in comparisons])
    plots.plot_backtest(comparisons, img / "backtest.png")
    return text + f"\n\n![prediction error against k]({img.name}/backtest.png)"


def _horizon_section(runs: Sequence[Run], img: Path, options: Options) -> str:
    attempts = task_attempts(runs, options.threshold, options.split)
    reason = degenerate_reason([a.human_minutes for a in attempts], [a.success for a in attempts])
    if reason:
        return f"No time horizon fitted: {reason}."
    fit = fit_horizon([a.human_minutes for a in attempts], [a.success for a in attempts], n_boot=options.n_boot)
    plots.plot_horizon(fit, attempts, img / "horizon.png", title=f"success = {options.split} loss ≤ {options.threshold}")
    by_minutes: dict[float, list[bool]] = {}
    for a in attempts:
        by_minutes.setdefault(a.human_minutes, []).append(a.success)
    text = (f"Success: final {options.split} task loss ≤ {options.threshold}. Logistic fit "
            f"p = σ({fit.beta0:.3g} + {fit.beta1:.3g}·log2 t) over {fit.n} attempts ({fit.successes} successes).\n\n")
    text += md.table(["human minutes", "attempts", "success rate"],
                     [[md.number(m), len(s), md.number(sum(s) / len(s))] for m, s in sorted(by_minutes.items())])
    text += "\n\n" + md.table(["horizon", "minutes [95% bootstrap CI]"],
                              [["50 %", _horizon_text(fit, 0.5)], ["80 %", _horizon_text(fit, 0.8)]])
    low, high = fit.minutes_range
    if not all(low <= h <= high for h in (fit.h50, fit.h80)):
        text += f"\n\nHorizons outside the observed {md.number(low)}–{md.number(high)} minutes are extrapolations."
    return text + f"\n\n![time horizon]({img.name}/horizon.png)"


def _laws_section(runs: Sequence[Run], img: Path) -> str:
    covariates = numeric_covariates(runs)
    if not covariates:
        return "No numeric covariate is carried by at least 3 runs at 2 or more values; no law fitted."
    rows, images = [], []
    for name in covariates:
        try:
            law = law_over_runs(runs, name)
        except ValueError as err:
            rows.append([name, "—", "—", "—", "—", str(err)])
            continue
        path = plots.plot_law(law, img / f"law_{_slug(name)}.png")
        images.append(f"![velocity vs {name}]({img.name}/{path.name})")
        rows.append([name, md.number(law.a), f"{md.number(law.b)} {md.interval(*law.b_interval)}", md.number(law.r2),
                     law.n, f"{law.dropped} dropped (velocity ≤ 0)" if law.dropped else ""])
    return (md.table(["covariate", "a", "b [95% CI]", "R²", "runs", "note"], rows)
            + "\n\nvelocity ≈ a·x^b, fitted in log-log space.\n\n" + "\n".join(images))


def _meta_section(runs: Sequence[Run], img: Path) -> str:
    metas = meta_velocity(runs)
    if not metas:
        return "No run has more than one episode."
    plots.plot_meta(metas, img / "meta.png")
    rows = [[m.run_id, m.label, " ".join(md.number(v) for v in m.velocities),
             " ".join(md.number(r) for r in m.ratios), md.number(m.mean_ratio)] for m in metas]
    return (md.table(["run", "agent+model", "velocity per episode", "v(e+1)/v(e)", "geometric mean ratio"], rows)
            + f"\n\n![meta-velocity]({img.name}/meta.png)")


def _tensorboard(runs: Sequence[Run], tb_dir: Path) -> None:
    from rsigym.analysis.tensorboard import replay_run

    by_log: dict[str, list[Run]] = {}
    for run in runs:
        by_log.setdefault(run.run_id, []).append(run)
    for run_id, episodes in by_log.items():
        replay_run(episodes, tb_dir / _slug(episodes[0].label) / _slug(run_id))


def write_leaderboard(runs: Sequence[Run], out_dir: str | Path, options: Options = Options(),
                      command: str | None = None) -> Path:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``runs.csv`` and plots under ``out_dir``."""
    complete = [run for run in runs if run.complete]
    skipped = len(runs) - len(complete)
    runs = complete
    if not runs:
        raise ValueError("no finished episode to rank")
    out = Path(out_dir)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    entries = leaderboard(runs)
    ranked = first_episodes(runs)
    table, csv_header, csv_rows = _leaderboard_section(entries, options)
    md.write_csv(out / "leaderboard.csv", csv_header, csv_rows)
    md.write_csv(out / "runs.csv", *_run_rows(runs))
    groups = {e.label: [s.run for s in e.runs] for e in entries}
    plots.plot_velocity([e.label for e in entries], [e.velocity for e in entries],
                        [e.velocity_interval for e in entries], img / "velocity.png")
    plots.plot_curves(groups, img / "curves.png", predictions=_predictions(ranked, options))
    plots.plot_curves(groups, img / "curves_compute.png", x="compute")
    body = [
        "## Leaderboard", (f"Generated by `{command}`.\n\n" if command else "") + _setups_section(ranked, len(entries))
        + (f"\n\n{skipped} unfinished episodes (crashed or still running) are left out." if skipped else ""),
        "Ranked by mean velocity (public loss gain per iteration, first episode of each run) with Student-t "
        "95 % intervals over seeds.\n\n" + table, f"![velocity per agent]({img.name}/velocity.png)",
        "### Improvement curves",
        "Faint: public loss at each evaluation; steps: best so far. Dashed: the AICc-chosen fit on the first "
        "half of the run; dotted: its extrapolation; the dot with a bar is the predicted L(N) with its 80 % "
        f"interval.\n\n![curves]({img.name}/curves.png)\n\n![curves over compute]({img.name}/curves_compute.png)",
        "### Attribution of the gain to edit kinds",
        md.table(["agent+model", *ATTRIBUTION_KINDS],
                 [[e.label, *(md.number(e.attribution[k]) for k in ATTRIBUTION_KINDS)] for e in entries]),
        *_roles_section(entries),
        *_tokens_section(runs),
        "### Runs", md.table(*_rounded(_run_rows(ranked))),
        "### Prediction", _prediction_section(ranked, img, options),
        "### Time horizon", _horizon_section(ranked, img, options),
        "### Laws across runs", _laws_section(ranked, img),
        "### Meta-velocity", _meta_section(runs, img),
    ]
    if options.tensorboard_dir is not None:
        _tensorboard(runs, options.tensorboard_dir)
        body.append(f"TensorBoard summaries: `tensorboard --logdir {options.tensorboard_dir}`.")
    return md.write_generated(out / "leaderboard.md", "\n\n".join(body))


def _rounded(header_rows: tuple[list[str], list[list]]) -> tuple[list[str], list[list]]:
    header, rows = header_rows
    keep = ["run", "agent+model", "seed", "iterations", "compute_s", "initial_loss", "final_loss", "private_loss",
            "gain", "velocity", "t_half"]
    index = [header.index(name) for name in keep]
    return keep, [[md.number(row[i]) if isinstance(row[i], float) or row[i] is None else row[i] for i in index]
                  for row in rows]


def write_report(runs: Sequence[Run], out_dir: str | Path, options: Options = Options()) -> Path:
    """``report.md`` and plots for the episodes of one run."""
    if not runs:
        raise ValueError("the log holds no record")
    out = Path(out_dir)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    first = runs[0]
    sections = [f"# Run {first.run_id}",
                md.table(["env", "agent", "model", "seed", "episodes", "covariates"],
                         [[first.env_id, first.agent, first.model or "—", first.seed, len(runs),
                           ", ".join(f"{k}={v}" for k, v in first.covariates.items()) or "—"]])]
    for run in sorted(runs, key=lambda r: r.episode):
        curve = run.curve()
        m = curve_metrics(curve)
        prediction = _predictions([run], options).get(run.key)
        figure = plots.curve_figure(curve, prediction, title=f"{plots.run_title(run)} · episode {run.episode}")
        figure.savefig(img / f"curve_episode{run.episode}.png", dpi=110, bbox_inches="tight")
        public, private = run.final_losses("public"), run.final_losses("private")
        sections += [
            f"## Episode {run.episode}" + ("" if run.complete else " (incomplete: the log ends mid-episode)"),
            md.table(["metric", "value"], [
                ["iterations", m.iterations], ["compute seconds", md.number(m.compute_hours * 3600)],
                ["initial / final / best public loss",
                 f"{md.number(m.initial_loss)} / {md.number(m.final_loss)} / {md.number(m.best_loss)}"],
                ["private loss", md.number(run.private_loss)],
                ["private − public", md.number(run.private_loss - m.final_loss) if run.private_loss is not None else "—"],
                ["gain / gap closed", f"{md.number(m.gain)} / {md.number(m.gap_closed)}"],
                ["velocity per iteration / per compute-hour",
                 f"{md.number(m.velocity)} / {md.number(m.velocity_per_compute_hour)}"],
                ["t½ (iterations / compute s)", f"{md.number(m.t_half)} / {md.number(m.t_half_compute_s)}"],
                ["area under best-so-far / L0", md.number(m.auc_best)],
                *[[f"gain from {kind} edits", md.number(m.attribution[kind])] for kind in ATTRIBUTION_KINDS],
                *([[f"predicted best L({prediction.horizon}) from k={prediction.k} ({prediction.family})",
                    f"{md.number(prediction.value)} [{md.number(prediction.low)}, {md.number(prediction.high)}]"]]
                  if prediction else []),
            ]),
            md.table(["task", "human minutes", "public loss", "private loss"],
                     [[task, (run.tasks.get(task) or {}).get("human_minutes", "—"), md.number(loss),
                       md.number(private.get(task)) if run.final.get("private_losses") else "—"]
                      for task, loss in sorted(public.items())]),
            f"![episode {run.episode}]({img.name}/curve_episode{run.episode}.png)",
        ]
    sections += ["## Meta-velocity", _meta_section(runs, img)]
    if options.tensorboard_dir is not None:
        _tensorboard(runs, options.tensorboard_dir)
        sections.append(f"TensorBoard summaries: `tensorboard --logdir {options.tensorboard_dir}`.")
    return md.write_generated(out / "report.md", "\n\n".join(sections))

