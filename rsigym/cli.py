"""The ``rsigym`` command line (also ``python -m rsigym``): run agents on environments, list
tasks, revert a run's workspace, analyse runs.

Errors a user can fix (a bad agent name, an unknown env keyword, a missing endpoint) print as one
``rsigym: error: ...`` line with exit code 2; ``--traceback`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.agents import AGENTS, load_agent_factory, make_agent
from rsigym.backends import ray as ray_backend
from rsigym.env import load_run
from rsigym.registry import load_suite, suite_entry, suite_names
from rsigym.runs import check_env_kwargs, episode_start, revert_run, run_dir_name, start_run
from rsigym.scales import DEFAULT_SCALE, SCALES

# More subcommands, each a "module:function" that adds its parsers to the ``rsigym`` parser
# (``function(subparsers)``). Adding a subcommand is one line here. They are imported by name when
# the parser is built, so the core imports no upper layer (envs, integrations) statically; one
# whose package is not installed is left out.
SUBCOMMANDS: tuple[str, ...] = (
    "rsigym.analysis.cli:register",  # leaderboard, report
    "rsigym.external:register",  # workspace init, evaluate, submit
    "rsigym.envs.kernels.cli:register",  # kernels import
    "rsigym.integrations.serve:register",  # serve (MCP, OpenEnv)
)


def console() -> Console:
    """A console that does not squeeze tables to 80 columns when the output is piped."""
    return Console(width=None if sys.stdout.isatty() else 160)


def package_version() -> str:
    """The installed package's version, from its metadata."""
    try:
        return importlib.metadata.version("rsigym")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (rsigym is not installed; run `pip install -e .`)"


def json_object(text: str) -> dict[str, Any]:
    """Parse ``--env-kwargs``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"step_cost\": 0.01}}', got {text!r}")
    return value


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
        info, ended = revert_run(env, info, args.iteration)
    finally:
        env.close()
    evaluated = f"; evaluated as iteration {info['iteration']}" if info["evaluated"] else ""
    print(f"{args.run_dir}: workspace restored to iteration {args.iteration}{evaluated}; "
          f"public loss {info['loss']:.4f}; iterations left {info['budget']['iterations_left']}")
    if ended:
        print(f"the budget is spent: the episode is over (private loss {info['private_loss']:.4f})")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    out = console()
    env, obs, info = load_run(args.run_dir)
    first, logged_reward = episode_start(args.run_dir)
    out.print(f"resuming {args.run_dir} at iteration {info['iteration']} (episode {first['episode']})")
    try:
        agent = make_agent(args.agent or first.get("agent") or "greedy", env, seed=first["seed"])
        info, total = play(env, agent, obs, info, out, "resumed")
    finally:
        env.close()
    out.print(_summary((first["losses"], first["loss"]), info, logged_reward + total))
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


def cmd_distributed(args: argparse.Namespace) -> int:
    """Episodes as Ray tasks (:func:`rsigym.backends.ray.run_episodes`), one per seed, and a table of them."""
    out = console()
    kwargs: dict[str, Any] = {"scale": args.scale, "sandbox": args.sandbox, "workers": args.workers}
    if args.tasks:
        kwargs["tasks"] = args.tasks
    ray_backend.connect(args.address, **({"num_cpus": args.num_cpus} if args.address is None and args.num_cpus else {}))
    out.print(f"[bold]{args.env_id}[/] agent={args.agent} seeds={args.seeds} on Ray "
              f"({'local instance' if args.address is None else args.address})")
    results = ray_backend.run_episodes(args.env_id, args.agent, args.seeds, kwargs, args.iterations, out=args.out)
    table = Table(title=f"{len(results)} episodes")
    for column in ("seed", "node", "host", "loss end", "private end", "wall s", "run id"):
        table.add_column(column)
    for r in results:
        private = "-" if r.private_loss is None else f"{r.private_loss:.4f}"
        table.add_row(str(r.seed), r.node_id[:12], r.hostname, f"{r.loss:.4f}", private, f"{r.wall_s:.1f}", r.run_id)
    out.print(table)
    out.print(f"run logs under {args.out}/ (rsigym leaderboard {args.out})")
    return 0


AGENT_HELP = f"a built-in agent ({', '.join(sorted(AGENTS))}) or your own as module:Class (or module:function)"


def add_run(sub: argparse._SubParsersAction) -> None:
    """``rsigym run``."""
    run = sub.add_parser("run", help="run an agent on an environment and write a run log")
    run.add_argument("env_id", nargs="?", default="RSI-MLE-v0")
    run.add_argument("--agent", default="greedy", help=f"{AGENT_HELP}; default greedy")
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


def add_resume(sub: argparse._SubParsersAction) -> None:
    """``rsigym resume``."""
    resume = sub.add_parser("resume", help="continue the last episode of a run directory (after a crash)")
    resume.add_argument("run_dir")
    resume.add_argument("--agent", help=f"{AGENT_HELP}; default: the agent named in the run log")
    resume.set_defaults(func=cmd_resume)


def add_revert(sub: argparse._SubParsersAction) -> None:
    """``rsigym revert``."""
    revert = sub.add_parser("revert", help="restore a run's workspace to iteration K (a logged revert op)",
                            description="Restore RUN/workspace to the commit of iteration K through the env's "
                                        "revert op, so the step is in RUN/log.jsonl like any other. With the "
                                        "default auto_evaluate the restored workspace is evaluated (one iteration).")
    revert.add_argument("run_dir", metavar="RUN")
    revert.add_argument("iteration", type=int, metavar="K")
    revert.set_defaults(func=cmd_revert)


def add_tasks(sub: argparse._SubParsersAction) -> None:
    """``rsigym tasks``."""
    tasks = sub.add_parser("tasks", help="list tasks with metric, baseline, reference and human_minutes")
    names = [f"{name}:ARGUMENT" if suite_entry(name).takes_argument else name for name in suite_names()]
    tasks.add_argument("--suite", default="default", help=f"'default' or one of {', '.join(names)}")
    tasks.set_defaults(func=cmd_tasks)


def add_distributed(sub: argparse._SubParsersAction) -> None:
    """``rsigym distributed``: episodes as Ray tasks."""
    parser = sub.add_parser("distributed", help="run episodes as Ray tasks (local Ray, or a cluster)")
    parser.add_argument("env_id", nargs="?", default="RSI-MLE-v0")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join: 'auto' or HOST:PORT (default: start a local Ray instance)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one episode per seed")
    parser.add_argument("--agent", default="greedy", choices=sorted(AGENTS))
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--out", default="runs", help="run logs go to OUT/<run_id>/log.jsonl")
    parser.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES)
    parser.add_argument("--sandbox", default="local")
    parser.add_argument("--tasks", nargs="+", help="only these task ids")
    parser.add_argument("--workers", type=int, default=1, help="tasks graded in parallel within an episode")
    parser.set_defaults(func=cmd_distributed)


# The command line's own subcommands (SUBCOMMANDS at the top adds the others).
CORE_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_run, add_resume, add_revert, add_tasks, add_distributed)


def _subcommand_adder(entry_point: str) -> Callable[[argparse._SubParsersAction], None] | None:
    """The ``module:function`` of :data:`SUBCOMMANDS`, or None when its package is not installed."""
    module_name, _, function = entry_point.partition(":")
    if importlib.util.find_spec(module_name.rpartition(".")[0]) is None:
        return None
    return getattr(importlib.import_module(module_name), function)


def build_parser() -> argparse.ArgumentParser:
    """The ``rsigym`` parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="rsigym", description="Recursive self-improvement as a Gymnasium environment.")
    parser.add_argument("--version", action="version", version=f"rsigym {package_version()}")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in CORE_SUBCOMMANDS:
        add(sub)
    for entry_point in SUBCOMMANDS:
        add = _subcommand_adder(entry_point)
        if add is not None:
            add(sub)
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
    return text if isinstance(err, (ValueError, FileNotFoundError, gym.error.Error)) \
        else f"{type(err).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
