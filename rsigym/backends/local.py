"""Local backend: an episode played in this process, its run log returned as records.

Grading on the local backend is :class:`rsigym.evaluation.Evaluator` (``workers`` threads in
this process); :mod:`rsigym.backends.ray` runs the same episodes as Ray tasks.
"""
from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import gymnasium as gym

from rsigym.agents import make_agent, run_episode
from rsigym.runlog import RunLog, read_log
from rsigym.runs import run_dir_name

LOCAL_NODE = "local"  # the node id of an episode played outside Ray


class EpisodeResult(NamedTuple):
    """One whole episode played by one Ray task (or in-process by :func:`play_episode`)."""

    seed: int
    run_id: str
    node_id: str  # the Ray node that played it ("local" outside Ray)
    hostname: str
    records: list[dict[str, Any]]  # the episode's run-log records (log.jsonl lines), in order
    loss: float  # final public suite loss
    private_loss: float | None  # scored at the end of the episode
    wall_s: float


def play_episode(env_id: str, agent: str, seed: int, env_kwargs: Mapping[str, Any] | None = None,
                 iterations: int | None = None) -> EpisodeResult:
    """Play one episode of ``agent`` on ``gym.make(env_id, **env_kwargs)`` in this process, in a
    temporary run directory that is removed afterwards: the run log comes back as records.
    ``iterations``: evaluations of the episode (None: the env's own setting)."""
    import rsigym  # noqa: F401  (registers the env ids in a fresh Ray worker)

    start = time.monotonic()
    kwargs = {"agent": agent, **(env_kwargs or {})}
    if iterations is not None:
        kwargs["iterations"] = int(iterations)
    with tempfile.TemporaryDirectory(prefix="rsigym-episode-") as tmp:
        kwargs["run_dir"] = Path(tmp) / run_dir_name(env_id, agent, seed)
        env = gym.make(env_id, **kwargs)
        try:
            info = run_episode(env, make_agent(agent, env, seed=seed), seed)
            base = env.unwrapped
            run_id, records = base.run_id, list(read_log(base.log.path))
        finally:
            env.close()
    return EpisodeResult(int(seed), run_id, LOCAL_NODE, socket.gethostname(), records, float(info["loss"]),
                         info.get("private_loss"), time.monotonic() - start)


def write_run(out: str | Path, result: EpisodeResult) -> Path:
    """Write an episode's records to ``out/<run_id>/log.jsonl`` (what ``rsigym leaderboard`` reads)."""
    log = RunLog(Path(out) / result.run_id / "log.jsonl")
    for record in result.records:
        log.append(record)
    return log.path
