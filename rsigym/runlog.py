"""The run log: ``log.jsonl``, one JSON object per step, flushed to disk before ``step()`` returns."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator


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

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(_jsonable(record), allow_nan=False, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a run log, skipping a truncated or corrupt line (a crash mid-write)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
