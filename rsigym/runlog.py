"""The run log: ``log.jsonl``, one :class:`LogRecord` per line, flushed to disk before ``step()`` returns.

This module owns the log's schema, its one writer (:class:`RunLog`) and its one reader
(:func:`read_log`); docs/design.md ("The run log") documents the fields. Every record
carries ``schema_version``; a line without it is an older, unversioned record (version 0),
read with defaults for the fields it lacks.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

SCHEMA_VERSION = 1
# Fields written only where they apply (the reset record of an episode), never as null.
_ONLY_WHEN_SET = ("tasks", "integrity")


class RunLogError(ValueError):
    """A log line that is not a JSON object, anywhere but at the very end of the file."""


@dataclass
class LogRecord:
    """One line of ``log.jsonl``: the state after a reset (step 0) or after one step.

    On disk a record is one flat JSON object: these fields (but ``extra``) plus the keys of
    ``extra``. ``extra`` holds what others add through ``RSIEnv.annotate_next_record``: an
    agent's token ``usage``, the factory's role fields. Its keys never shadow a field: the
    env's own fields win. Besides attributes, a record answers ``record["loss"]``,
    ``record.get("usage")``, ``"usage" in record`` and ``{**record}`` as its JSON object would.
    """

    run_id: str
    env_id: str
    agent: str | None = None
    model: str | None = None
    seed: int | None = None  # the data seed of the episode's task instances
    episode: int = 0
    step: int = 0  # 0: the reset record
    iteration: int = 0  # evaluations so far (0: the starter)
    wall_s: float = 0.0  # since the episode's reset
    compute_s: float = 0.0  # sandbox seconds charged to the budget so far
    ops: list[dict[str, Any]] = field(default_factory=list)  # OpResult.log_entry() of each op of the step
    losses: dict[str, float] = field(default_factory=dict)  # public loss per task
    loss: float | None = None  # public suite loss
    reward: float = 0.0
    private_loss: float | None = None  # set on the episode's last record only
    private_losses: dict[str, float] | None = None  # likewise
    terminated: bool = False  # the policy submitted
    truncated: bool = False  # the budget ran out
    evaluated: bool = False  # the step graded the workspace
    commit: str | None = None  # the workspace commit of the current iteration
    covariates: dict[str, Any] = field(default_factory=dict)  # tags given to the env (model size, ...)
    exceptions: list[dict[str, str]] = field(default_factory=list)  # caught by the step's error boundary
    tasks: dict[str, dict[str, Any]] | None = None  # reset records: category, human_minutes, weight, metric per task
    integrity: str | None = None  # reset records: how far the sandbox hides test data
    infra_error: str | None = None  # the host failed the step's evaluation: the step is masked (reward 0)
    extra: dict[str, Any] = field(default_factory=dict)  # annotations (see the class docs)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "LogRecord":
        """The record of one parsed line; unknown keys go to ``extra``, missing fields take their defaults
        (an unversioned line is schema version 0)."""
        own = {name: raw[name] for name in FIELD_NAMES if name in raw}
        own.setdefault("schema_version", 0)
        own.setdefault("run_id", "")
        own.setdefault("env_id", "")
        return cls(**own, extra={key: value for key, value in raw.items() if key not in FIELD_NAMES})

    def to_json(self) -> dict[str, Any]:
        """The flat JSON object written for this record (non-finite numbers become null)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for name in _ONLY_WHEN_SET:
            if own[name] is None:
                del own[name]
        own = {"schema_version": own.pop("schema_version"), **own}
        extra = {key: value for key, value in self.extra.items() if key not in FIELD_NAMES}
        return _jsonable({**own, **extra})

    # -- the JSON object's read-only mapping view, for code written against plain dicts ---------
    def __getitem__(self, key: str) -> Any:
        if key in FIELD_NAMES:
            value = getattr(self, key)
            if value is None and key in _ONLY_WHEN_SET:
                raise KeyError(key)
            return value
        return self.extra[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def keys(self) -> Iterable[str]:
        """The JSON object's keys (so ``{**record}`` gives that object)."""
        return self.to_json().keys()


_MISSING = object()
# The keys a record's own fields take in the JSON object (annotations may use any other).
FIELD_NAMES: frozenset[str] = frozenset(f.name for f in fields(LogRecord)) - {"extra"}


def _jsonable(value: Any) -> Any:
    """Non-finite floats become null so every line stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class RunLog:
    """Appends records to ``path``; each line is written whole, flushed and fsynced."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Cut a half-written last line left by a crash, so appends start on a clean line."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def append(self, record: LogRecord | Mapping[str, Any]) -> None:
        """Write ``record`` as one line (a mapping is read as a record's JSON object first)."""
        if not isinstance(record, LogRecord):
            record = LogRecord.from_json(record)
            record.schema_version = SCHEMA_VERSION
        line = json.dumps(record.to_json(), allow_nan=False, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def read_log(path: str | Path) -> list[LogRecord]:
    """The records of one ``log.jsonl``, current or unversioned. A truncated last line (a crash
    mid-write) is dropped; a line that is not a JSON object anywhere else raises :class:`RunLogError`."""
    return list(_records(Path(path)))


def _records(path: Path) -> Iterator[LogRecord]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                return
            raise RunLogError(f"{path}:{number}: not a JSON object: {err}") from err
        if not isinstance(raw, dict):
            raise RunLogError(f"{path}:{number}: expected a JSON object, got {type(raw).__name__}")
        yield LogRecord.from_json(raw)
