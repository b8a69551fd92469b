"""The ``rsigym`` command line (also ``python -m rsigym``): run agents on environments, list
tasks, revert a run's workspace, analyse runs.

Errors a user can fix (a bad agent name, an unknown env keyword, a missing endpoint) print as one
``rsigym: error: ...`` line with exit code 2; ``--traceback`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.agents import AGENTS, load_agent_factory, make_agent
from rsigym.analysis.tensorboard import TensorBoardLogger
from rsigym.env import load_run
from rsigym.envs.suites import SUITES, load_suite
from rsigym.runlog import read_log
from rsigym.scales import DEFAULT_SCALE, SCALES

# Modules that add their own subcommands through ``register(subparsers)``.
EXTENSIONS = ("rsigym.analysis.cli", "rsigym.external", "rsigym.distributed", "rsigym.envs.kernels.cli")


def console() -> Console:
    """A console that does not squeeze tables to 80 columns when the output is piped."""
    return Console(width=None if sys.stdout.isatty() else 160)


# Keyword arguments ``gym.make`` takes itself rather than passing them to the env.
MAKE_KWARGS = frozenset({"max_episode_steps", "disable_env_checker"})


class CommandError(Exception):
    """A mistake in the command's input, reported as one line without a traceback."""


def package_version() -> str:
    """The installed package's version, from its metadata."""
    try:
        return importlib.metadata.version("rsigym")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (rsigym is not installed; run `pip install -e .`)"


def run_dir_name(env_id: str, agent: str, seed: int) -> str:
    """CleanRL-style run names: ``{env}__{agent}__{seed}__{unix time}`` (``module:Class`` agents as ``module.Class``)."""
    agent = re.sub(r"[^A-Za-z0-9_.+-]+", ".", agent)
    return f"{env_id}__{agent}__{seed}__{int(time.time())}"


def json_object(text: str) -> dict[str, Any]:
    """Parse ``--env-kwargs``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"step_cost\": 0.01}}', got {text!r}")
    return value


def check_env_kwargs(env_id: str, extra: dict[str, Any], flags: dict[str, str]) -> None:
    """Refuse ``--env-kwargs`` keys the env does not take (with a close match) or that have their own flag."""
    for key in extra:
        if key in flags:
            raise CommandError(f"--env-kwargs: set {key!r} with {flags[key]} instead")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise CommandError(str(err)) from err
    creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    parameters = inspect.signature(creator).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # the env takes any keyword; it checks them itself
    accepted = {name for name, p in parameters.items()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)} | MAKE_KWARGS
    for key in extra:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise CommandError(f"--env-kwargs: {env_id} takes no keyword {key!r}.{hint} "
                               f"It takes: {', '.join(sorted(accepted - set(flags)))}")


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


def start_run(env_id: str, kwargs: dict[str, Any], agent_name: str, seed: int) -> tuple[gym.Env, Any, tuple]:
    """Build the env, load the agent and do the first reset: ``env, agent, (obs, info)``.

    If any of these fails, the run folder (and an output folder made for it) is removed again,
    so a mistake leaves no empty run behind.
    """
    run_dir = Path(kwargs["run_dir"])
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]  # innermost first
    env = None
    try:
        env = TensorBoardLogger(gym.make(env_id, **kwargs))  # writes <run>/tb/
        agent = make_agent(agent_name, env, seed=seed)
        return env, agent, env.reset(seed=seed)
    except BaseException:
        if env is not None:
            env.close()
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)  # the outermost folder this run made
        raise


def cmd_run(args: argparse.Namespace) -> int:
    out = console()
    load_agent_factory(args.agent)  # a bad --agent fails before anything is built
    run_dir = Path(args.out) / run_dir_name(args.env_id, args.agent, args.seed)
    kwargs = {"iterations": args.iterations, "scale": args.scale, "sandbox": args.sandbox, "run_dir": run_dir,
              "agent": args.agent, "model": args.model, "workers": args.workers,
              "covariates": dict(args.covariate or ())}
    if args.tasks:
        kwargs["tasks"] = args.tasks
    check_env_kwargs(args.env_id, args.env_kwargs, RUN_FLAGS)
    env, agent, first = start_run(args.env_id, {**kwargs, **args.env_kwargs}, args.agent, args.seed)
    out.print(f"[bold]{args.env_id}[/] agent={args.agent} seed={args.seed} run_dir={run_dir}")
    try:
        for episode in range(args.episodes):
            obs, info = first if episode == 0 else env.reset(seed=args.seed + episode)
            start = dict(info["losses"]), info["loss"]
            info, total = play(env, agent, obs, info, out, f"episode {episode}")
            out.print(_summary(start, info, total))
    finally:
        env.close()
    out.print(f"run log: {run_dir / 'log.jsonl'}, TensorBoard: {run_dir / 'tb'}")
    return 0


# Env keywords that `rsigym run` sets from its own flags (so --env-kwargs may not set them).
RUN_FLAGS = {"iterations": "--iterations", "scale": "--scale", "sandbox": "--sandbox", "run_dir": "--out",
             "agent": "--agent", "model": "--model", "workers": "--workers", "covariates": "--covariate",
             "tasks": "--tasks"}


def cmd_revert(args: argparse.Namespace) -> int:
    """Restore a run's workspace to an earlier iteration with the env's ``revert`` op (so it is logged)."""
    env, _, info = load_run(args.run_dir)
    try:
        base = env.unwrapped
        if base.done:
            raise CommandError(f"the episode in {args.run_dir} is over; nothing to revert")
        if args.iteration not in base.commits:
            raise CommandError(f"{args.run_dir} has no iteration {args.iteration}; "
                               f"iterations so far: 0..{info['iteration']}")
        _, _, terminated, truncated, info = env.step({"op": "revert", "iteration": args.iteration})
        (result,) = [op for op in info["ops"] if op["op"] == "revert"]
        if not result["ok"]:
            raise CommandError(f"revert failed: {result['error']}")
        evaluated = f"; evaluated as iteration {info['iteration']}" if info["evaluated"] else ""
        print(f"{args.run_dir}: workspace restored to iteration {args.iteration}{evaluated}; "
              f"public loss {info['loss']:.4f}; iterations left {info['budget']['iterations_left']}")
        if terminated or truncated:
            print(f"the budget is spent: the episode is over (private loss {info['private_loss']:.4f})")
    finally:
        env.close()
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    out = console()
    env, obs, info = load_run(args.run_dir)
    records = list(read_log(Path(args.run_dir) / "log.jsonl"))
    first = next(r for r in records if r["episode"] == records[-1]["episode"])
    out.print(f"resuming {args.run_dir} at iteration {info['iteration']} (episode {records[-1]['episode']})")
    try:
        agent = make_agent(args.agent or first.get("agent") or "greedy", env, seed=first["seed"])
        info, total = play(env, agent, obs, info, out, "resumed")
    finally:
        env.close()
    out.print(_summary((first["losses"], first["loss"]), info, sum(r["reward"] for r in records[1:]) + total))
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
    parser.add_argument("--version", action="version", version=f"rsigym {package_version()}")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    agent_help = f"a built-in agent ({', '.join(sorted(AGENTS))}) or your own as module:Class (or module:function)"

    run = sub.add_parser("run", help="run an agent on an environment and write a run log")
    run.add_argument("env_id", nargs="?", default="RSI-MLE-v0")
    run.add_argument("--agent", default="greedy", help=f"{agent_help}; default greedy")
    run.add_argument("--iterations", type=int, default=10)
    run.add_argument("--episodes", type=int, default=1)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="runs")
    run.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES)
    run.add_argument("--sandbox", default="local")
    run.add_argument("--tasks", nargs="+", help="only these task ids")
    run.add_argument("--model", default="", help="model tag for the run log (LLM agents)")
    run.add_argument("--workers", type=int, default=1, help="tasks graded in parallel")
    run.add_argument("--covariate", action="append", type=covariate, metavar="KEY=VALUE",
                     help="tag the run for law fits (repeatable), e.g. --covariate model_params=7e9")
    run.add_argument("--env-kwargs", type=json_object, default={}, metavar="JSON",
                     help="more keyword arguments for gym.make, as a JSON object, e.g. '{\"step_cost\": 0.01}'")
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue the last episode of a run directory (after a crash)")
    resume.add_argument("run_dir")
    resume.add_argument("--agent", help=f"{agent_help}; default: the agent named in the run log")
    resume.set_defaults(func=cmd_resume)

    revert = sub.add_parser("revert", help="restore a run's workspace to iteration K (a logged revert op)",
                            description="Restore RUN/workspace to the commit of iteration K through the env's "
                                        "revert op, so the step is in RUN/log.jsonl like any other. With the "
                                        "default auto_evaluate the restored workspace is evaluated (one iteration).")
    revert.add_argument("run_dir", metavar="RUN")
    revert.add_argument("iteration", type=int, metavar="K")
    revert.set_defaults(func=cmd_revert)

    tasks = sub.add_parser("tasks", help="list tasks with metric, baseline, reference and human_minutes")
    tasks.add_argument("--suite", default="default", help=f"'default' or one of {sorted(SUITES)}")
    tasks.set_defaults(func=cmd_tasks)

    for module_name in EXTENSIONS:
        if importlib.util.find_spec(module_name.rpartition(".")[0]) is not None:
            importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``rsigym`` command; its exit code (2 for an error, printed as one line)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("rsigym: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (every error reaches the user as one line unless --traceback)
        if args.traceback:
            raise
        print(f"rsigym: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, (CommandError, ValueError, FileNotFoundError, gym.error.Error)) \
        else f"{type(err).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
