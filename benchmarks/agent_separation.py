"""Can the Kaggle-style suite tell agents apart? random, greedy and search, three seeds each.

    python benchmarks/agent_separation.py [--iterations 8] [--seeds 0 1 2] [--tasks ID ...]
        [--out runs/separation] [--doc docs/leaderboard.md] [--figure docs/img/kaggle_agents.png]

Plays each agent on RSI-MLE-v0 (the ``kaggle`` suite, scale ``ci``) for ``--iterations``
evaluations on the instance of each seed (the agent's seed is the same number), reads the
velocities back from the run logs (:func:`rsigym.baselines.common.velocities`) and prints the
mean and 95 % Student-t interval per agent, whether random's interval and the best agent's are
disjoint, and the curves. With ``--doc`` it rewrites the section between the markers below in
that file. One process plays every episode of a seed, so the grade cache is shared: the
starters' first evaluation of a seed is paid once for all three agents. ``--play-only`` plays
and stops; a later run finds the episodes already logged under ``--out`` and only summarises
(the figures in docs/leaderboard.md ran one ``--play-only`` process per seed, in parallel).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym

from rsigym.agents import make_agent, run_episode
from rsigym.analysis.plots import plot_curves
from rsigym.analysis.runlog import load_runs
from rsigym.baselines.common import summarise, velocities

AGENTS = ("random", "greedy", "search")
BEGIN, END = "<!-- agent-separation:begin -->", "<!-- agent-separation:end -->"


def play(agent: str, seed: int, iterations: int, tasks: list[str] | None, out: Path) -> Path:
    run_dir = out / agent / f"seed{seed}"
    if (run_dir / "log.jsonl").is_file():  # played already (e.g. by a run with --play-only for this seed)
        return run_dir
    kwargs = {"tasks": tasks} if tasks else {}
    env = gym.make("RSI-MLE-v0", iterations=iterations, run_dir=run_dir, agent=agent, **kwargs)
    run_episode(env, make_agent(agent, env, seed=seed), seed)
    env.close()
    return run_dir


def section(summary: dict, args: argparse.Namespace, figure: str, seconds: float, disjoint: bool, best: str) -> str:
    scope = ", ".join(args.tasks) if args.tasks else "all tasks"
    rows = ["| agent | velocity (mean) | 95 % interval | per seed |", "|---|---|---|---|"]
    for agent, stats in summary.items():
        rows.append(f"| {agent} | {stats['mean']:.4f} | [{stats['low']:.4f}, {stats['high']:.4f}] | "
                    + ", ".join(f"{v:.4f}" for v in stats["values"]) + " |")
    command = (f"python benchmarks/agent_separation.py --iterations {args.iterations} --seeds "
               + " ".join(map(str, args.seeds)) + (" --tasks " + " ".join(args.tasks) if args.tasks else "")
               + f" --doc {args.doc} --figure {args.figure}")
    return "\n".join([
        BEGIN,
        "## Agents told apart on the Kaggle-style suite (RSI-MLE-v0)",
        "",
        f"Random, greedy and search (`baselines/search.py`), seeds {', '.join(map(str, args.seeds))}, "
        f"{args.iterations} evaluations per episode at scale `ci`, on {scope}. Velocity is the loss gain per "
        "iteration read back from the run logs. Measured with:",
        "",
        f"    {command}",
        "",
        *rows,
        "",
        f"Random's interval and the best agent's ({best}) are {'disjoint' if disjoint else 'NOT disjoint'}. "
        f"This command took {seconds / 60:.0f} min on a shared 2-core machine (it plays only the episodes not "
        "already logged under `--out`).",
        "",
        f"![improvement curves per agent]({figure})",
        END,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--out", default="runs/separation")
    parser.add_argument("--doc", default="")
    parser.add_argument("--figure", default="docs/img/kaggle_agents.png")
    parser.add_argument("--play-only", action="store_true", help="play the episodes and stop (to run seeds in parallel processes)")
    args = parser.parse_args()

    started = time.monotonic()
    out = Path(args.out)
    if args.play_only:
        for agent in AGENTS:
            for seed in args.seeds:
                play(agent, seed, args.iterations, args.tasks, out)
        return
    run_dirs = {agent: [play(agent, seed, args.iterations, args.tasks, out) for seed in args.seeds] for agent in AGENTS}
    summary = {agent: summarise(velocities(dirs)) for agent, dirs in run_dirs.items()}
    best = max(("greedy", "search"), key=lambda agent: summary[agent]["mean"])
    disjoint = summary[best]["low"] > summary["random"]["high"]
    groups = {agent: [min(load_runs([d]), key=lambda run: run.episode) for d in dirs] for agent, dirs in run_dirs.items()}
    figure = plot_curves(groups, args.figure, title="RSI-MLE-v0: loss against iteration")
    print(json.dumps(summary, indent=2))
    print(f"best: {best}; random's and the best's intervals disjoint: {disjoint}")
    if args.doc:
        doc = Path(args.doc)
        text = doc.read_text()
        relative = Path(figure).resolve().relative_to(doc.parent.resolve())
        new = section(summary, args, str(relative), time.monotonic() - started, disjoint, best)
        if BEGIN in text:
            text = text[: text.index(BEGIN)] + new + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + new + "\n"
        doc.write_text(text)


if __name__ == "__main__":
    main()
