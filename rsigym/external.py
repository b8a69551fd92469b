"""External-agent mode: a coding agent (Claude Code, Codex, Aider ...) edits the workspace itself.

    rsigym workspace init RUN --suite toy --tasks digits wine --iterations 10 --seed 0
    rsigym shell RUN -- AGENT  # the agent, confined to its copy of the workspace (rsigym.agentshell)
    ... the agent edits its workspace with its own tools ...
    rsigym evaluate RUN        # one iteration: feedback and public loss, appended to RUN/log.jsonl
    rsigym submit RUN          # end the episode: the private split is scored

Every command rebuilds the env from the run's trusted settings (``RUN/trusted/``, see
:mod:`rsigym.trusted`) and resumes its logged episode, so the loop survives restarts and each
call is an ordinary env step in the run log: velocity analysis, leaderboards and TensorBoard
replay treat an external agent like any other. An agent that runs ``rsigym evaluate`` from
its own shell on the host holds the operator's rights: only ``rsigym shell`` keeps the run's
private data, grades and budget out of its reach (``docs/security.md``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

from rsigym.agent_brief import agent_instructions
from rsigym.env import load_run
from rsigym.scales import DEFAULT_SCALE, SCALES

INSTRUCTIONS_FILE = "AGENT.md"


def _print_step(obs: dict, reward: float | None, info: dict[str, Any]) -> None:
    print(obs["text"])
    print()
    if reward is not None:
        print(f"reward: {reward:+.4f}")
    print(f"public loss: {info['loss']:.4f}")
    print(f"iterations left: {info['budget']['iterations_left']}")


def cmd_init(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if (run_dir / "env.json").exists() and not args.force:
        print(f"{run_dir} already holds a run; use --force to start a new episode there", file=sys.stderr)
        return 1
    kwargs: dict[str, Any] = {"run_dir": run_dir, "iterations": args.iterations, "scale": args.scale,
                              "sandbox": args.sandbox, "agent": args.agent, "model": args.model}
    if args.tasks:
        kwargs["tasks"] = args.tasks
    if args.suite:
        kwargs["suite"] = args.suite
    env = gym.make(args.env_id, **kwargs)
    try:
        obs, info = env.reset(seed=args.seed)
        brief = agent_instructions(env, env.unwrapped.workspace_dir, f"rsigym evaluate {run_dir}", f"rsigym submit {run_dir}")
        (run_dir / INSTRUCTIONS_FILE).write_text(brief)
        _print_step(obs, None, info)
    finally:
        env.close()
    print(f"\nworkspace: {run_dir / 'workspace'}\ninstructions: {run_dir / INSTRUCTIONS_FILE}")
    return 0


def _step(run_dir: Path, op: str) -> int:
    try:
        env, obs, info = load_run(run_dir)
    except FileNotFoundError as err:
        print(f"{err}; create one with `rsigym workspace init {run_dir}`", file=sys.stderr)
        return 2
    try:
        if env.unwrapped.done:
            print(obs["text"])
            print(f"\nthe episode in {run_dir} is over; start another with `rsigym workspace init {run_dir} --force`",
                  file=sys.stderr)
            return 1
        obs, reward, terminated, truncated, info = env.step({"op": op})
        _print_step(obs, reward, info)
        if terminated or truncated:
            print(f"private loss: {info['private_loss']:.4f}")
            for task_id, loss in info["private_losses"].items():
                print(f"  {task_id}: {loss:.4f}")
    finally:
        env.close()
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    return _step(Path(args.run_dir), "evaluate")


def cmd_submit(args: argparse.Namespace) -> int:
    return _step(Path(args.run_dir), "submit")


def cmd_shell(args: argparse.Namespace) -> int:
    from rsigym.agentshell import run_shell  # only this command needs the sandbox machinery

    command = args.agent_command[1:] if args.agent_command[:1] == ["--"] else args.agent_command
    try:
        return run_shell(Path(args.run_dir), command, network=args.network)
    except FileNotFoundError as err:
        print(f"{err}; create one with `rsigym workspace init {args.run_dir}`", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``workspace init``, ``evaluate`` and ``submit`` to the ``rsigym`` command line."""
    workspace = subparsers.add_parser("workspace", help="set up a run for an external (coding) agent")
    actions = workspace.add_subparsers(dest="workspace_command", required=True)
    init = actions.add_parser("init", help="create RUN/workspace, evaluate the starter, write RUN/AGENT.md")
    init.add_argument("run_dir", metavar="RUN")
    init.add_argument("--env-id", default="RSI-MLE-v0")
    init.add_argument("--suite", default=None, help="suite name(s) of the env (default: the env's own)")
    init.add_argument("--tasks", nargs="+", help="only these task ids")
    init.add_argument("--iterations", type=int, default=20, help="evaluations in the episode")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES)
    init.add_argument("--sandbox", default="local")
    init.add_argument("--agent", default="external", help="agent tag for the run log, e.g. claude-code")
    init.add_argument("--model", default="", help="model tag for the run log")
    init.add_argument("--force", action="store_true", help="start a new episode in an existing run")
    init.set_defaults(func=cmd_init)

    evaluate = subparsers.add_parser("evaluate", help="score RUN's workspace once (public split): one iteration")
    evaluate.add_argument("run_dir", metavar="RUN")
    evaluate.set_defaults(func=cmd_evaluate)

    submit = subparsers.add_parser("submit", help="end RUN's episode and score the private split")
    submit.add_argument("run_dir", metavar="RUN")
    submit.set_defaults(func=cmd_submit)

    shell = subparsers.add_parser("shell", help="start an agent's shell (or CMD) confined to RUN's workspace; "
                                                "its `rsigym evaluate` / `submit` reach the grader through a socket")
    shell.add_argument("run_dir", metavar="RUN")
    shell.add_argument("--network", action="store_true",
                       help="keep the host's network (a coding agent that calls a model API needs it)")
    shell.add_argument("agent_command", nargs=argparse.REMAINDER, metavar="-- CMD",
                       help="the command to run (default: an interactive bash)")
    shell.set_defaults(func=cmd_shell)
