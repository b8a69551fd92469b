"""Grouping run logs (``log.jsonl``, read by :func:`rsigym.runlog.read_log`) into one :class:`Run` per episode.

A log holds one :class:`~rsigym.runlog.LogRecord` per env step plus one at each reset. Everything the analysis
reports is derived from these records, so a run can be re-analysed without re-running it. The
``env.json`` next to a log (the env id and keyword arguments, written by the env) supplies what
the records do not repeat: the iteration budget and the data scale.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from rsigym.analysis.curves import Curve
from rsigym.runlog import LogRecord, read_log

EDIT_KINDS = ("code", "weight", "harness")


@dataclass
class Run:
    """One episode of one run: its tags and its records in step order."""

    run_id: str
    env_id: str
    agent: str
    model: str | None
    seed: int | None
    episode: int
    records: list[LogRecord]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    covariates: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # env.json's keyword arguments, when found

    @property
    def key(self) -> str:
        """A name unique across a corpus of runs: run id and episode."""
        return f"{self.run_id}#{self.episode}"

    @property
    def label(self) -> str:
        """``agent`` or ``agent+model``: the pair a leaderboard ranks."""
        return self.agent if not self.model else f"{self.agent}+{self.model}"

    @property
    def final(self) -> LogRecord:
        return self.records[-1]

    @property
    def complete(self) -> bool:
        """Whether the episode ended (terminated or truncated) rather than crashed."""
        return bool(self.final.terminated or self.final.truncated)

    @property
    def private_loss(self) -> float | None:
        value = self.final.private_loss
        return None if value is None else float(value)

    @property
    def budget(self) -> int | None:
        """The episode's iteration budget (from ``env.json``; None when the run directory lacks it)."""
        value = self.settings.get("iterations")
        return None if value is None else int(value)

    @property
    def scale(self) -> str | None:
        """The data scale the tasks were prepared at (``ci`` or ``full``; None when unknown)."""
        value = self.settings.get("scale")
        return None if value is None else str(value)

    @property
    def setup(self) -> tuple[str, tuple[str, ...], int | None, str | None]:
        """What must match for velocities to be comparable: env, task set, budget and scale."""
        return self.env_id, tuple(sorted(self.tasks)), self.budget, self.scale

    def token_usage(self) -> tuple[int, int] | None:
        """Total (prompt, completion) tokens over the episode's records; None when no record carries usage."""
        usages = [r.extra["usage"] for r in self.records if isinstance(r.extra.get("usage"), dict)]
        if not usages:
            return None
        return (sum(int(u.get("prompt_tokens") or 0) for u in usages),
                sum(int(u.get("completion_tokens") or 0) for u in usages))

    def evaluation_indices(self) -> list[int]:
        """Index of the record where each iteration first appears (the reset record is iteration 0)."""
        seen: set[int] = set()
        indices = []
        for index, record in enumerate(self.records):
            iteration = int(record.iteration)
            if iteration not in seen:
                seen.add(iteration)
                indices.append(index)
        return indices

    def curve(self) -> Curve:
        """The improvement curve: public suite loss at each evaluation, over iterations and compute."""
        indices = self.evaluation_indices()
        return Curve(
            iteration=[int(self.records[i].iteration) for i in indices],
            compute_s=[float(self.records[i].compute_s or 0.0) for i in indices],
            loss=[_finite(self.records[i].loss) for i in indices],
            kinds=[self._kinds_since(indices, n) for n in range(len(indices))],
        )

    def _kinds_since(self, indices: list[int], n: int) -> tuple[str, ...]:
        """Kinds of the successful edits between evaluation ``n-1`` and evaluation ``n``."""
        if n == 0:
            return ()
        kinds: set[str] = set()
        for record in self.records[indices[n - 1] + 1 : indices[n] + 1]:
            for op in record.ops or ():
                if op.get("ok", True) and op.get("kind") in EDIT_KINDS:
                    kinds.add(op["kind"])
        return tuple(sorted(kinds))

    def final_losses(self, split: str = "private") -> dict[str, float]:
        """Per-task losses at the end of the episode; ``split="private"`` falls back to public."""
        if split == "private" and self.final.private_losses:
            return {task: float(loss) for task, loss in self.final.private_losses.items()}
        return {task: float(loss) for task, loss in (self.final.losses or {}).items()}


def _finite(value: Any) -> float:
    number = float("nan") if value is None else float(value)
    return number if math.isfinite(number) else float("nan")


def split_episodes(records: Iterable[LogRecord], path: Path | None = None,
                   settings: dict[str, Any] | None = None) -> list[Run]:
    """Group one log's records by episode, in order of first appearance.

    A log belongs to one run directory. A process that resumes a crashed run writes its own
    ``run_id`` into the same log, so episodes are grouped by number alone and every episode
    carries the log's first ``run_id``.
    """
    records = list(records)
    if not records:
        return []
    run_id = str(records[0].run_id)
    groups: dict[int, list[LogRecord]] = {}
    for record in records:
        groups.setdefault(int(record.episode), []).append(record)
    # Only reset records carry the task table; later episodes of the same log reuse it.
    tasks = next((r.tasks for r in records if r.tasks), {})
    runs = []
    for episode, group in groups.items():
        group.sort(key=lambda r: int(r.step))
        first = group[0]
        runs.append(
            Run(
                run_id=run_id,
                env_id=str(first.env_id),
                agent=str(first.agent or "unknown"),
                model=first.model or None,
                seed=None if first.seed is None else int(first.seed),
                episode=episode,
                records=group,
                tasks=dict(next((r.tasks for r in group if r.tasks), tasks)),
                covariates=dict(next((r.covariates for r in group if r.covariates), {})),
                path=path,
                settings=dict(settings or {}),
            )
        )
    return runs


def read_settings(log_path: str | Path) -> dict[str, Any]:
    """The env keyword arguments in the ``env.json`` next to a log; empty when there is none or it is unreadable."""
    try:
        settings = json.loads((Path(log_path).parent / "env.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    kwargs = settings.get("kwargs") if isinstance(settings, dict) else None
    return kwargs if isinstance(kwargs, dict) else {}


def read_runs(path: str | Path) -> list[Run]:
    """The episodes of one ``log.jsonl``."""
    return split_episodes(read_log(path), Path(path), read_settings(path))


def find_logs(paths: Iterable[str | Path]) -> Iterator[Path]:
    """``log.jsonl`` files named directly or found under the given directories, sorted per directory."""
    for path in map(Path, paths):
        if path.is_file():
            yield path
        elif (path / "log.jsonl").is_file():
            yield path / "log.jsonl"
        elif path.is_dir():
            yield from sorted(path.rglob("log.jsonl"))
        else:
            raise FileNotFoundError(f"{path}: no such run directory or log file")


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every episode of every log under ``paths`` (run directories, parents of them, or log files)."""
    runs: list[Run] = []
    for log in find_logs(paths):
        runs += read_runs(log)
    return runs
