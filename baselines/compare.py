"""Velocity of every baseline on the same held-out task instances: the figures of docs/baselines.md.

    python -m rsigym.baselines.compare --out runs/compare --figures docs/img

Plays the scripted agents (``random``, ``greedy``) and the uniform random menu policy, trains
PPO (``RSI-MLE-Menu-v0``) and GRPO (``RSI-MLE-v0``, grammar transformer) once per agent seed,
then plays every agent for ``--iterations`` evaluations on each held-out seed. Velocities,
gap closed and private losses are read back from the episodes' run logs. Everything runs in
one process, so the grade cache (keyed by a content hash of each task's inputs) is shared:
a configuration graded once — by any agent — is free afterwards.

Writes ``<out>/results.json``, ``<out>/tables.md`` and, under ``--figures``, the training
curves and the held-out improvement curves as PNGs.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np
from matplotlib.figure import Figure

from rsigym.agents import make_agent, run_episode
from rsigym.analysis.curves import curve_metrics
from rsigym.analysis.leaderboard import mean_interval
from rsigym.analysis.markdown import table
from rsigym.analysis.plots import plot_curves
from rsigym.analysis.runlog import Run, load_runs
from rsigym.baselines import grpo, ppo
from rsigym.baselines.common import cpu_seconds, episode_velocity, parse_args

AGENTS = ("random", "greedy", "menu-random", "ppo", "grpo")


@dataclass
class Args:
    out: str = "runs/compare"
    figures: str = ""  # a folder for the PNGs (e.g. docs/img); empty: <out>/figures
    tasks: tuple[str, ...] = ("digits", "wine")
    suite: str = "toy"  # the suite that holds ``tasks``
    iterations: int = 4  # evaluations per held-out episode: the velocity budget
    eval_seeds: tuple[int, ...] = (100, 101, 102, 103)
    agent_seeds: tuple[int, ...] = (1, 2, 3)  # PPO/GRPO training seeds, random agents' seeds
    menu_multipliers: tuple[float, ...] = ()  # () = the named edits and revert-best; e.g. 0.5 2 adds multipliers
    ppo_train_seeds: tuple[int, ...] = (0, 1, 2, 3)
    ppo_timesteps: int = 1536
    grpo_train_seeds: tuple[int, ...] = (0, 1, 2, 3)
    grpo_updates: int = 30
    agents: tuple[str, ...] = AGENTS


def play_text_agent(args: Args, name: str, agent_seed: int, root: Path) -> list[Path]:
    """A registered text-env agent on every held-out seed; returns the run directories."""
    run_dirs = []
    for seed in args.eval_seeds:
        run_dir = root / name / f"agent{agent_seed}-seed{seed}"
        env = gym.make("RSI-MLE-v0", suite=args.suite, tasks=list(args.tasks), iterations=args.iterations, run_dir=run_dir, agent=name)
        run_episode(env, make_agent(name, env, seed=agent_seed), seed)
        env.close()
        run_dirs.append(run_dir)
    return run_dirs


def first_episode(run_dir: Path) -> Run:
    return min(load_runs([run_dir]), key=lambda run: run.episode)


def describe(runs: Sequence[Run]) -> dict:
    """Mean and 95 % interval of velocity, with gap closed and final public and private losses."""
    metrics = [curve_metrics(run.curve()) for run in runs]
    velocity, (low, high) = mean_interval([episode_velocity(m) for m in metrics])
    return {
        "episodes": len(runs),
        "velocity": velocity, "velocity_low": low, "velocity_high": high,
        "velocities": [episode_velocity(m) for m in metrics],
        "gap_closed": float(np.mean([m.gap_closed for m in metrics])),
        "final_loss": float(np.mean([m.final_loss for m in metrics])),
        "private_loss": float(np.mean([run.private_loss for run in runs if run.private_loss is not None])),
    }


def read_curve(path: Path) -> list[tuple[float, ...]]:
    with path.open() as handle:
        rows = list(csv.reader(handle))[1:]
    return [tuple(float(x) for x in row) for row in rows]


def plot_training(ppo_curves: dict[int, list], grpo_curves: dict[int, list], path: Path) -> Path:
    """PPO episodic return against env steps and GRPO mean group return against updates, per seed."""
    figure = Figure(figsize=(10, 3.4))
    left, right = figure.subplots(1, 2)
    for seed, curve in ppo_curves.items():
        steps, returns = np.array(curve).T
        window = min(8, len(returns))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        left.plot(steps, returns, alpha=0.2, color=f"C{seed}")
        left.plot(steps[window - 1:], smooth, color=f"C{seed}", label=f"seed {seed}")
    left.set(title="PPO on RSI-MLE-Menu-v0", xlabel="env steps", ylabel="episodic return (loss decrease)")
    for seed, curve in grpo_curves.items():
        updates, means, stds = np.array(curve).T
        right.plot(updates, means, color=f"C{seed}", label=f"seed {seed}")
        right.fill_between(updates, means - stds, means + stds, color=f"C{seed}", alpha=0.1)
    right.set(title="GRPO on RSI-MLE-v0 (grammar transformer)", xlabel="update", ylabel="mean return of the groups")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def run(args: Args) -> dict:
    root = Path(args.out)
    figures = Path(args.figures) if args.figures else root / "figures"
    episodes: dict[str, list[Path]] = {}
    per_seed: dict[str, dict[int, list[Path]]] = {}
    train_seconds: dict[str, list[float]] = {}
    train_cpu: dict[str, list[float]] = {}
    ppo_curves: dict[int, list] = {}
    grpo_curves: dict[int, list] = {}
    started = time.time()
    for name in ("random", "greedy"):
        if name in args.agents:
            seeds = args.agent_seeds if name == "random" else args.agent_seeds[:1]  # greedy is deterministic
            per_seed[name] = {k: play_text_agent(args, name, k, root / "episodes") for k in seeds}
    menu = ppo.Args(tasks=args.tasks, iterations=args.iterations, multipliers=args.menu_multipliers,
                    eval_seeds=args.eval_seeds,
                    train_seeds=args.ppo_train_seeds, total_timesteps=args.ppo_timesteps, eval_random=False)
    if "menu-random" in args.agents:
        per_seed["menu-random"] = {k: ppo.play(menu, root / "episodes" / f"menu-random-agent{k}", "menu-random",
                                               ppo.random_policy(k)) for k in args.agent_seeds}
    if "ppo" in args.agents:
        per_seed["ppo"] = {}
        for k in args.agent_seeds:
            settings = replace(menu, seed=k, out=str(root / "ppo"))
            clock, cpu = time.time(), cpu_seconds()
            agent, run_root, _ = ppo.train(settings)
            train_seconds.setdefault("ppo", []).append(time.time() - clock)
            train_cpu.setdefault("ppo", []).append(cpu_seconds() - cpu)
            ppo_curves[k] = read_curve(run_root / "training_curve.csv")
            per_seed["ppo"][k] = ppo.evaluate(settings, agent, run_root)["ppo"]
    if "grpo" in args.agents:
        per_seed["grpo"] = {}
        for k in args.agent_seeds:
            settings = grpo.Args(seed=k, tasks=args.tasks, eval_iterations=args.iterations, eval_seeds=args.eval_seeds,
                                 train_seeds=args.grpo_train_seeds, updates=args.grpo_updates, out=str(root / "grpo"))
            clock, cpu = time.time(), cpu_seconds()
            policy, run_root, curve = grpo.train(settings)
            train_seconds.setdefault("grpo", []).append(time.time() - clock)
            train_cpu.setdefault("grpo", []).append(cpu_seconds() - cpu)
            grpo_curves[k] = curve
            per_seed["grpo"][k] = grpo.evaluate(settings, policy, run_root)
    for name, seeds in per_seed.items():
        episodes[name] = [d for dirs in seeds.values() for d in dirs]

    results = {
        "args": asdict(args),
        "wall_seconds": round(time.time() - started, 1),
        "train_seconds": {name: [round(s, 1) for s in values] for name, values in train_seconds.items()},
        "train_cpu_seconds": {name: [round(s, 1) for s in values] for name, values in train_cpu.items()},
        "agents": {name: describe([first_episode(d) for d in dirs]) for name, dirs in episodes.items()},
        "per_seed": {name: {str(k): describe([first_episode(d) for d in dirs]) for k, dirs in seeds.items()}
                     for name, seeds in per_seed.items()},
    }
    baseline = results["agents"].get("random", {}).get("velocity", math.nan)
    for name in ("ppo", "grpo"):
        if name in results["per_seed"]:
            worst = min(entry["velocity"] for entry in results["per_seed"][name].values())
            results["agents"][name]["worst_seed_margin_over_random"] = worst - baseline
    figures.mkdir(parents=True, exist_ok=True)
    if ppo_curves or grpo_curves:
        plot_training(ppo_curves, grpo_curves, figures / "baselines-training.png")
    plot_curves({name: [first_episode(d) for d in dirs] for name, dirs in episodes.items()},
                figures / "baselines-heldout-curves.png")
    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (root / "tables.md").write_text(tables(results) + "\n")
    print(tables(results))
    return results


def _f(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def tables(results: dict) -> str:
    """The velocity table per agent and per agent seed, in Markdown."""
    rows = []
    for name, entry in results["agents"].items():
        seconds, cpu = results["train_seconds"].get(name), results["train_cpu_seconds"].get(name)
        rows.append([name, entry["episodes"], f"{_f(entry['velocity'])} [{_f(entry['velocity_low'])}, "
                     f"{_f(entry['velocity_high'])}]", f"{entry['gap_closed']:.3f}", f"{entry['final_loss']:.4f}",
                     f"{entry['private_loss']:.4f}", "-" if not seconds else f"{np.mean(seconds):.0f} / {np.mean(cpu):.0f}"])
    summary = table(["agent", "episodes", "velocity (95 % CI)", "gap closed", "final loss", "private loss",
                     "train wall s / CPU s (mean)"], rows)
    seed_rows = [[name, seed, entry["episodes"], _f(entry["velocity"]), f"{entry['final_loss']:.4f}"]
                 for name, seeds in results["per_seed"].items() for seed, entry in seeds.items()]
    per_seed = table(["agent", "agent seed", "episodes", "velocity", "final loss"], seed_rows)
    return f"{summary}\n\n{per_seed}"


def main(argv: Sequence[str] | None = None) -> dict:
    return run(parse_args(Args, argv, description=__doc__.splitlines()[0]))


if __name__ == "__main__":
    main()
