"""Runs in a run directory: their names, checked env keywords, starting, reverting and resuming.

The logic behind ``rsigym run``, ``revert`` and ``resume`` (and the Ray backend's episodes), so
the command line (:mod:`rsigym.cli`) only parses arguments and prints.
"""
from __future__ import annotations

import difflib
import inspect
import re
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from rsigym.agents import Agent, make_agent
from rsigym.analysis.tensorboard import TensorBoardLogger
from rsigym.runlog import read_log

# Keyword arguments ``gym.make`` takes itself rather than passing them to the env.
MAKE_KWARGS = frozenset({"max_episode_steps", "disable_env_checker"})


class RunError(ValueError):
    """A mistake in what was asked of a run (an env keyword, an iteration), said in one line."""


def run_dir_name(env_id: str, agent: str, seed: int) -> str:
    """CleanRL-style run names: ``{env}__{agent}__{seed}__{unix time}`` (``module:Class`` agents as ``module.Class``)."""
    agent = re.sub(r"[^A-Za-z0-9_.+-]+", ".", agent)
    return f"{env_id}__{agent}__{seed}__{int(time.time())}"


def check_env_kwargs(env_id: str, extra: Mapping[str, Any], flags: Mapping[str, str]) -> None:
    """Refuse keys of ``extra`` the env does not take (with a close match) or that ``flags`` set
    (``flags`` maps an env keyword to the command-line flag that sets it)."""
    for key in extra:
        if key in flags:
            raise RunError(f"--env-kwargs: set {key!r} with {flags[key]} instead")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise RunError(str(err)) from err
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
            raise RunError(f"--env-kwargs: {env_id} takes no keyword {key!r}.{hint} "
                           f"It takes: {', '.join(sorted(accepted - set(flags)))}")


def start_run(env_id: str, kwargs: dict[str, Any], agent_name: str, seed: int) -> tuple[gym.Env, Agent, tuple]:
    """Build the env (with TensorBoard logging to ``<run>/tb/``), load the agent and do the first
    reset: ``env, agent, (obs, info)``.

    If any of these fails, the run folder (and an output folder made for it) is removed again,
    so a mistake leaves no empty run behind.
    """
    run_dir = Path(kwargs["run_dir"])
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]  # innermost first
    env = None
    try:
        env = TensorBoardLogger(gym.make(env_id, **kwargs))
        agent = make_agent(agent_name, env, seed=seed)
        return env, agent, env.reset(seed=seed)
    except BaseException:
        if env is not None:
            env.close()
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)  # the outermost folder this run made
        raise


def revert_run(env: gym.Env, info: dict, iteration: int) -> tuple[dict, bool]:
    """Restore the workspace of a loaded run (``env, _, info = load_run(run_dir)``) to ``iteration``
    with the env's ``revert`` op, so the step is logged; returns the step's ``info`` and whether
    the episode ended with it."""
    base = env.unwrapped
    if base.done:
        raise RunError(f"the episode in {base.run_dir} is over; nothing to revert")
    if iteration not in base.commits:
        raise RunError(f"{base.run_dir} has no iteration {iteration}; iterations so far: 0..{info['iteration']}")
    _, _, terminated, truncated, info = env.step({"op": "revert", "iteration": iteration})
    (result,) = [op for op in info["ops"] if op["op"] == "revert"]
    if not result["ok"]:
        raise RunError(f"revert failed: {result['error']}")
    return info, terminated or truncated


def episode_start(run_dir: str | Path) -> tuple[dict, float]:
    """The first record of the run's last episode (its reset) and the rewards logged since then."""
    records = list(read_log(Path(run_dir) / "log.jsonl"))
    episode = [r for r in records if r["episode"] == records[-1]["episode"]]
    return episode[0], sum(r["reward"] for r in episode[1:])
