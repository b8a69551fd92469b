"""Grades kept on disk, behind the in-memory grade cache, so that they outlive the process.

``rsigym resume``, ``load_run`` and every ``rsigym evaluate`` of an external agent start a new
process on an existing run: without this store each would grade the last commit again
before doing anything. A :class:`GradeStore` answers from memory first, then from JSON files
in its folder (``<run>/grades/``, out of every sandbox's reach), and writes each new
entry through to both.

Every file is signed: an HMAC, under the run's secret key (``<run>/trusted/``, see
:mod:`rsigym.trusted`), of the cache key and the entry. A file that was edited, copied under
another name, written by hand or left unsigned is treated as absent: the task is graded
again, never served what the file says.

File names hash the cache key with a *salt*, the digest of the grading code (every task's
folder and class module, and rsigym's version): after an upgrade or an edited grader the
old files are simply never found again.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, MutableMapping, Sequence

from rsigym.tasks import Grade, Task, TaskResult
from rsigym.trusted import sign, verify


def grading_code_digest(tasks: Sequence[Task]) -> str:
    """Digest of the code and specs that turn a solution run into a grade."""
    from rsigym import __version__

    digest = hashlib.sha256(__version__.encode())
    files = set()
    for task in tasks:
        files.add(Path(inspect.getfile(type(task))).resolve())
        files.update(path.resolve() for path in task.folder.rglob("*") if path.suffix in (".py", ".json"))
    for path in sorted(files):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class GradeStore(MutableMapping[str, Any]):
    """A grade cache: ``memory`` (often the process-wide one) backed by JSON files in ``folder``,
    each signed with ``key``. Iteration and ``len`` cover what is in memory."""

    def __init__(self, folder: Path, memory: MutableMapping[str, Any], salt: str, key: bytes):
        self.folder = Path(folder)
        self.memory = memory
        self.salt = salt
        self.key = key

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(f"{self.salt}\0{key}".encode()).hexdigest()[:40] + ".json")

    def __getitem__(self, key: str) -> Any:
        if key in self.memory:  # graded by another env of this process: keep a copy for this run too
            value = self.memory[key]
            if not self._path(key).exists():
                self._write(key, value)
            return value
        try:
            signed = json.loads(self._path(key).read_text())
            body = signed["entry"]
            if not verify(self.key, signed["hmac"], self.salt.encode(), key.encode(), body.encode()):
                raise ValueError("bad signature")  # tampered, moved or foreign: grade again
            value = _decode(json.loads(body))
        except (OSError, ValueError, KeyError, TypeError):  # absent, torn, unsigned or forged
            raise KeyError(key) from None
        self.memory[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.memory[key] = value
        self._write(key, value)

    def _write(self, key: str, value: Any) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        body = json.dumps(_encode(value), default=_plain)
        signature = sign(self.key, self.salt.encode(), key.encode(), body.encode())
        with os.fdopen(handle, "w") as stream:
            json.dump({"hmac": signature, "entry": body}, stream)
        os.replace(temporary, self._path(key))  # readers see the old file or the new one, never half

    def __delitem__(self, key: str) -> None:
        self.memory.pop(key, None)
        self._path(key).unlink(missing_ok=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self.memory)

    def __len__(self) -> int:
        return len(self.memory)


def _encode(value: Any) -> Any:
    if isinstance(value, TaskResult):
        return {"result": {**value._asdict(), "grade": value.grade._asdict()}}
    return {"reads": [[list(files), digest, _encode(result)] for files, digest, result in value]}


def _decode(data: dict) -> Any:
    if "result" in data:
        fields = dict(data["result"])
        fields["grade"] = Grade(**fields["grade"])
        if fields.get("files_read") is not None:
            fields["files_read"] = tuple(fields["files_read"])
        return TaskResult(**fields)
    return [(tuple(files), digest, _decode(result)) for files, digest, result in data["reads"]]


def _plain(value: Any) -> Any:
    """JSON for what graders put in ``details``: numpy scalars and arrays, tuples, paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
