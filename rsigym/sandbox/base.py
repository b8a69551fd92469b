"""The sandbox interface: every piece of code the policy wrote runs through one of these."""
from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from rsigym.constants import LOG_TAIL_CHARS, RUN_OUTPUT_BYTES


class InfraError(RuntimeError):
    """The host, not the solution, stopped a run or its grading: the sandbox engine is
    unreachable, a container or worker died for an outside reason, or a trusted write hit a
    full disk. Only trusted code raises it, from what it observed itself (an engine call that
    failed, a kill it did not send, an errno of its own write), never from a command's
    output or exit status, so a solution cannot claim one. The env retries the evaluation and
    then masks the step instead of grading it (``info["infra_error"]``, docs/security.md)."""


class Limits(NamedTuple):
    """Resource limits for one sandboxed command. ``None`` leaves a limit unset."""

    cpu_seconds: int | None = 600
    memory_bytes: int | None = 8 * 1024**3
    processes: int | None = 256
    file_size_bytes: int | None = 1024**3
    output_bytes: int = RUN_OUTPUT_BYTES


class ExecResult(NamedTuple):
    """What a sandboxed command did. ``stdout``/``stderr`` hold at most ``Limits.output_bytes`` each (the tail)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    killed_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.killed_reason

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last ``chars`` characters of stdout and stderr together, for observations."""
        text = self.stdout.rstrip()
        if self.stderr.strip():
            text = (text + "\n" if text else "") + self.stderr.rstrip()
        return text[-chars:]


class Sandbox(abc.ABC):
    """Runs untrusted commands with limits.

    ``cwd`` is the only directory a command may write; ``readonly`` lists extra host paths it
    may read (mounted read-only where the provider can); ``workdir`` is the folder inside
    ``cwd`` the command starts in. Providers never raise for what the command does:
    failures come back in the ``ExecResult``. They raise :class:`InfraError` when the host
    failed the run (engine gone, container killed from outside, worker lost).

    A sandbox's configuration is plain JSON data, :meth:`spec`, and
    ``rsigym.sandbox.make_sandbox(sandbox.spec())`` rebuilds an equal sandbox (in another
    process too: a resumed run, a Ray worker). Two sandboxes are equal when their specs are.
    A provider whose constructor takes arguments returns them from :meth:`settings`.
    """

    name: str = "abstract"
    # Whether a solution can reach the graders' data: "strong" where the provider hides every
    # host path it is not given (and the tasks' leak sources), else "weak: <why>". The run log
    # and ``info`` report it.
    integrity: str = "unknown: this sandbox does not say what it hides"

    @abc.abstractmethod
    def run(
        self,
        cmd: Sequence[str] | str,
        cwd: Path,
        timeout: float,
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        readonly: Sequence[Path] = (),
        workdir: str = ".",
    ) -> ExecResult:
        """Run ``cmd`` (argv list, or a string for ``/bin/sh -c``) in ``cwd``/``workdir``."""

    def python(self) -> str:
        """The Python interpreter solutions run with inside this sandbox."""
        return "python"

    def devices(self) -> tuple[str, ...]:
        """Host device paths (beyond ``null``, ``zero``, ``full``, ``random``, ``urandom``)
        commands see, each at ``/dev/<its name>``; GPUs passed through are among them."""
        return ()

    def close(self) -> None:
        """Release provider resources (containers, workers)."""

    def settings(self) -> dict[str, Any]:
        """The constructor's keyword arguments (JSON data) that rebuild this sandbox as configured.

        Every setting that changes what a command may do or see belongs here: the grade cache
        keys results by it. Objects that cannot travel (a client, a connection) stay out and
        are made afresh by the constructor's defaults."""
        return {}

    def spec(self) -> dict[str, Any]:
        """``{"provider": name, "entry_point": "module:Class", "settings": {...}}``, JSON data
        that :func:`rsigym.sandbox.make_sandbox` turns back into an equal sandbox."""
        cls = type(self)
        return {
            "provider": self.name,
            "entry_point": f"{cls.__module__}:{cls.__qualname__}",
            # Through JSON, so tuples become lists and a setting that is not plain data fails here.
            "settings": json.loads(json.dumps(self.settings(), sort_keys=True)),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sandbox):
            return NotImplemented
        return self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(spec_key(self.spec()))


def spec_key(spec: Mapping[str, Any]) -> str:
    """A sandbox spec as one canonical string (sorted keys), for cache keys and hashing."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def start_dir(cwd: Path, workdir: str) -> Path:
    """The folder ``workdir`` names inside ``cwd``; ``ValueError`` if it leaves ``cwd`` or is missing."""
    folder = (cwd / workdir).resolve()
    if not folder.is_relative_to(cwd.resolve()) or not folder.is_dir():
        raise ValueError(f"workdir {workdir!r} is not a folder inside {cwd}")
    return folder
