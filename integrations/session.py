"""One client's episode behind a server: the env it owns, its steps and its teardown.

Both servers of ``rsigym serve`` (:mod:`rsigym.integrations.mcp_server`,
:mod:`rsigym.integrations.openenv_server`) give every client session an
:class:`EpisodeSession`: its own env built with ``gym.make`` (so its own run directory and
sandbox), stepped from worker threads, and closed exactly once when the client goes away.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym

import rsigym  # noqa: F401  (registers the env ids)

# The parts of the env's ``info`` a client sees. ``run_dir`` and ``log_path`` name folders on
# the server's machine, which mean nothing to a remote client, so they stay out.
CLIENT_INFO_KEYS = ("iteration", "step", "loss", "losses", "scores", "valid", "errors", "medals", "ops",
                    "evaluated", "budget", "private_loss", "private_losses", "infra_error")
MAX_TREE_LINES = 2000  # a policy may write many files; the listing of the workspace stays readable


@dataclass
class StepOutcome:
    """What a reset or a step returned, in the form a server sends on."""

    text: str  # the observation text (Markdown)
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)  # JSON-safe: the keys of CLIENT_INFO_KEYS present

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def failed_ops(self) -> list[dict[str, Any]]:
        """The ops of this step that failed (an unknown path, a refused edit, a bad field)."""
        return [op for op in self.info.get("ops", []) if not op.get("ok", True)]

    def structured(self) -> dict[str, Any]:
        """Reward, end flags and the client-visible info as one JSON object."""
        return {"reward": self.reward, "terminated": self.terminated, "truncated": self.truncated, **self.info}


def client_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The client-visible part of an env ``info``, made JSON-safe (numpy numbers become floats)."""
    picked = {key: info[key] for key in CLIENT_INFO_KEYS if key in info}
    return json.loads(json.dumps(picked, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class SessionClosed(RuntimeError):
    """A call on a session whose env was already torn down."""


class EpisodeSession:
    """One client's episode on ``env_id``: the env is built at the first reset or step and
    closed by :meth:`close`.

    ``run_root`` (optional) keeps each session's run under ``run_root/<env>__serve__<id>__<time>``
    after it ends (its log for analysis); without it the env makes a temporary run directory
    that ``close()`` removes. Calls are serialised by a lock, so a client that sends requests
    concurrently still steps its env one action at a time.
    """

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any], seed: int | None = None,
                 run_root: str | Path | None = None):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        self.seed = seed
        self.session_id = uuid.uuid4().hex[:12]
        if run_root is not None:
            self.env_kwargs["run_dir"] = Path(run_root) / f"{env_id}__serve__{self.session_id}__{int(time.time())}"
        self.env: gym.Env | None = None
        self.episode_id: str | None = None
        self.step_count = 0
        self.last: StepOutcome | None = None
        self.closed = False
        self._lock = threading.Lock()

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> StepOutcome:
        """Start a new episode (the first one builds the env); ``seed`` defaults to the server's."""
        with self._lock:
            return self._reset(seed)

    def step(self, action: Any) -> StepOutcome:
        """Apply one rsigym action (an op dict, a list of them or JSON text). The first call of a
        session starts the episode first, with the server's seed."""
        with self._lock:
            if self.env is None:
                self._reset(None)
            self._check_open()
            observation, reward, terminated, truncated, info = self.env.step(action)
            self.step_count += 1
            return self._remember(observation, reward, terminated, truncated, info)

    def _reset(self, seed: int | None) -> StepOutcome:
        self._check_open()
        if self.env is None:
            self.env = gym.make(self.env_id, **self.env_kwargs)
        observation, info = self.env.reset(seed=self.seed if seed is None else seed)
        self.episode_id = uuid.uuid4().hex
        self.step_count = 0
        return self._remember(observation, 0.0, False, False, info)

    def _remember(self, observation: Mapping[str, Any], reward: float, terminated: bool, truncated: bool,
                  info: Mapping[str, Any]) -> StepOutcome:
        self.last = StepOutcome(str(observation["text"]), float(reward), bool(terminated), bool(truncated),
                                client_info(info))
        return self.last

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosed("this session's env was closed")

    # -- what resources show ------------------------------------------------------------------------
    def started(self) -> gym.Env:
        """The env, with its first episode started if none was yet (resources need the workspace)."""
        with self._lock:
            if self.env is None:
                self._reset(None)
            self._check_open()
            return self.env

    def task_descriptions(self) -> dict[str, str]:
        """Task id -> its full description (Markdown)."""
        return {task.id: task.description() for task in self.started().unwrapped.tasks}

    def workspace_tree(self) -> str:
        """The workspace's files, one ``path (bytes)`` a line (at most :data:`MAX_TREE_LINES`): what the
        policy can read and edit. Links are listed as links and never followed."""
        root = self.started().unwrapped.workspace_dir
        lines: list[str] = []
        with self._lock:
            for folder, subfolders, files in os.walk(root):  # os.walk does not follow links to folders
                subfolders.sort()
                for name in sorted(files):
                    path = Path(folder, name)
                    shown = path.relative_to(root).as_posix()
                    lines.append(f"{shown} (link)" if path.is_symlink() else f"{shown} ({path.lstat().st_size} bytes)")
        if len(lines) > MAX_TREE_LINES:
            lines = lines[:MAX_TREE_LINES] + [f"... and {len(lines) - MAX_TREE_LINES} more files"]
        return "\n".join(lines) + "\n"

    # -- teardown -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the env (its sandbox; its run directory too when the env made it). Idempotent;
        waits for a step in progress to finish first."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.env is not None:
                self.env.close()

    @property
    def run_dir(self) -> Path | None:
        """The env's run directory, once built."""
        return None if self.env is None else Path(self.env.unwrapped.run_dir)
