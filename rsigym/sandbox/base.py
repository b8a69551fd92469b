"""The sandbox interface: every piece of code the policy wrote runs through one of these."""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence


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
    output_bytes: int = 64 * 1024


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

    def tail(self, chars: int = 2000) -> str:
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


def start_dir(cwd: Path, workdir: str) -> Path:
    """The folder ``workdir`` names inside ``cwd``; ``ValueError`` if it leaves ``cwd`` or is missing."""
    folder = (cwd / workdir).resolve()
    if not folder.is_relative_to(cwd.resolve()) or not folder.is_dir():
        raise ValueError(f"workdir {workdir!r} is not a folder inside {cwd}")
    return folder
