"""The ``rsigym`` command line: run agents on environments, list tasks, analyse runs."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from pathlib import Path
from typing import Sequence

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.agents import AGENTS, make_agent
from rsigym.env import load_run
from rsigym.envs.suites import SUITES, load_suite
from rsigym.runlog import read_log

# Modules that add their own subcommands through ``register(subparsers)``.
EXTENSIONS = ("rsigym.analysis.cli", "rsigym.external", "rsigym.distributed")


def console() -> Console:
    """A console that does not squeeze tables to 80 columns when the output is piped."""
    return Console(width=None if sys.stdout.isatty() else 160)


def run_dir_name(env_id: str, agent: str, seed: int) -> str:
    """CleanRL-style run names: ``{env}__{agent}__{seed}__{unix time}``."""
    return f"{env_id}__{agent}__{seed}__{int(time.time())}"


def covariate(text: str) -> tuple[str, float | str]:
    """Parse ``KEY=VALUE``; the value becomes a number where it reads as one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, float(value)
    except ValueError:
        return key, value


def play(env: gym.Env, agent, obs: dict, info: dict, out: Console, label: str) -> tuple[dict, float]:
    """Let ``agent`` act until the episode ends, with a progress bar; returns the last info and the return."""
    agent.reset(obs, info)
    total, done = 0.0, info.get("private_loss") is not None
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=out) as bar:
        job = bar.add_task(f"{label} loss {info['loss']:.4f}", total=env.unwrapped.iterations, completed=info["iteration"])
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
            total += reward
            done = terminated or truncated
            bar.update(job, completed=info["iteration"], description=f"{label} loss {info['loss']:.4f}")
    return info, total


def cmd_run(args: argparse.Namespace) -> int:
    out = console()
    run_dir = Path(args.out) / run_dir_name(args.env_id, args.agent, args.seed)
    kwargs = {"iterations": args.iterations, "scale": args.scale, "sandbox": args.sandbox, "run_dir": run_dir,
              "agent": args.agent, "model": args.model, "workers": args.workers,
              "covariates": dict(args.covariate or ())}
    if args.tasks:
        kwargs["tasks"] = args.tasks
    env = gym.make(args.env_id, **kwargs)
    agent = make_agent(args.agent, env, seed=args.seed)
    out.print(f"[bold]{args.env_id}[/] agent={args.agent} seed={args.seed} run_dir={run_dir}")
    for episode in range(args.episodes):
        obs, info = env.reset(seed=args.seed + episode)
        start = dict(info["losses"]), info["loss"]
        info, total = play(env, agent, obs, info, out, f"episode {episode}")
        out.print(_summary(start, info, total))
    env.close()
    out.print(f"run log: {run_dir / 'log.jsonl'}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    out = console()
    env, obs, info = load_run(args.run_dir)
    records = list(read_log(Path(args.run_dir) / "log.jsonl"))
    first = next(r for r in records if r["episode"] == records[-1]["episode"])
    out.print(f"resuming {args.run_dir} at iteration {info['iteration']} (episode {records[-1]['episode']})")
    agent = make_agent(args.agent or first.get("agent") or "greedy", env, seed=first["seed"])
    info, total = play(env, agent, obs, info, out, "resumed")
    out.print(_summary((first["losses"], first["loss"]), info, sum(r["reward"] for r in records[1:]) + total))
    env.close()
    return 0


def _summary(start: tuple[dict, float], info: dict, total_reward: float) -> Table:
    losses, loss = start
    table = Table(title=f"iterations {info['iteration']}, sum of rewards {total_reward:+.4f}")
    for column in ("task", "loss start", "loss end", "change", "private end"):
        table.add_column(column, justify="right" if column != "task" else "left")
    private = info.get("private_losses", {})
    for task_id, begin in losses.items():
        end = info["losses"][task_id]
        table.add_row(task_id, f"{begin:.4f}", f"{end:.4f}", f"{end - begin:+.4f}", f"{private.get(task_id, float('nan')):.4f}")
    table.add_row("[bold]suite", f"{loss:.4f}", f"{info['loss']:.4f}", f"{info['loss'] - loss:+.4f}",
                  f"{info.get('private_loss', float('nan')):.4f}")
    return table


def cmd_tasks(args: argparse.Namespace) -> int:
    table = Table(title=f"tasks of suite {args.suite!r}")
    for column in ("id", "category", "metric", "direction", "baseline", "reference", "human_minutes", "weight"):
        table.add_column(column)
    for task in load_suite(args.suite):
        spec = task.spec
        table.add_row(spec.id, spec.category, spec.metric, spec.direction, f"{spec.baseline:.4g}",
                      f"{spec.reference:.4g}", str(spec.human_minutes), f"{spec.weight:g}")
    console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsigym", description="Recursive self-improvement as a Gymnasium environment.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an agent on an environment and write a run log")
    run.add_argument("env_id", nargs="?", default="RSI-MLE-v0")
    run.add_argument("--agent", default="greedy", choices=sorted(AGENTS))
    run.add_argument("--iterations", type=int, default=10)
    run.add_argument("--episodes", type=int, default=1)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="runs")
    run.add_argument("--scale", default="ci", choices=["ci", "full"])
    run.add_argument("--sandbox", default="local")
    run.add_argument("--tasks", nargs="+", help="only these task ids")
    run.add_argument("--model", default="", help="model tag for the run log (LLM agents)")
    run.add_argument("--workers", type=int, default=1, help="tasks graded in parallel")
    run.add_argument("--covariate", action="append", type=covariate, metavar="KEY=VALUE",
                     help="tag the run for law fits (repeatable), e.g. --covariate model_params=7e9")
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue the last episode of a run directory (after a crash)")
    resume.add_argument("run_dir")
    resume.add_argument("--agent", choices=sorted(AGENTS), help="default: the agent named in the run log")
    resume.set_defaults(func=cmd_resume)

    tasks = sub.add_parser("tasks", help="list tasks with metric, baseline, reference and human_minutes")
    tasks.add_argument("--suite", default="default", help=f"'default' or one of {sorted(SUITES)}")
    tasks.set_defaults(func=cmd_tasks)

    for module_name in EXTENSIONS:
        if importlib.util.find_spec(module_name.rpartition(".")[0]) is not None:
            importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
