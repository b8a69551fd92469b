"""``CarryOver``: keep the agent's harness (and optionally its weights) across episodes.

Each reset starts a fresh workspace from the starter files; with this wrapper the files under
``harness/`` (and ``weights/`` with ``weights=True``) that the last episode ended with are
written into the new workspace before its first evaluation, through the env's
``reset(options={"files": {...}})``. The task solutions still restart from the starters, so
a faster next episode measures improvement of the improver: meta-velocity
(:mod:`rsigym.analysis.meta`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym


class CarryOver(gym.Wrapper):
    """Carry ``harness/`` (and ``weights/`` when asked) from one episode's workspace into the next."""

    def __init__(self, env: gym.Env, weights: bool = False):
        super().__init__(env)
        self.folders = ("harness", "weights") if weights else ("harness",)
        self.carried: dict[str, bytes] = {}
        self._workspace: Path | None = None

    def collect(self, workspace: str | Path) -> dict[str, bytes]:
        """The carried folders' regular files, keyed by workspace-relative POSIX path."""
        workspace = Path(workspace)
        files = {}
        for folder in self.folders:
            root = workspace / folder
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    files[path.relative_to(workspace).as_posix()] = path.read_bytes()
        return files

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        # Collected here rather than at termination so that an episode cut short by a reset
        # also hands its harness on; the old workspace is still intact at this point.
        if self._workspace is not None:
            self.carried = self.collect(self._workspace)
        options = dict(options or {})
        options["files"] = {**self.carried, **(options.get("files") or {})}
        obs, info = self.env.reset(seed=seed, options=options)
        self._workspace = Path(self.env.unwrapped.workspace_dir)
        info["carried_files"] = sorted(self.carried)
        return obs, info
