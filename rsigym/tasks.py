"""The task API: a spec, a data builder, starter files, a sandboxed run and a trusted grader.

A task lives in a folder ``envs/<suite>/<task>/`` holding ``task.json`` (the spec),
``description.md``, ``starter/`` (copied into ``workspace/tasks/<id>/``) and the code that
builds its data and grades it. Solutions run in the sandbox and write artefacts; the grader
scores those artefacts on the public and private splits outside the sandbox.
"""
from __future__ import annotations

import abc
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np

from rsigym.loss import normalised_loss
from rsigym.sandbox import ExecResult, Limits, Sandbox
from rsigym.sandbox.hidden import hide_leak_sources, parse_leak_source
from rsigym.scales import DEFAULT_SCALE, DEFAULT_TIMEOUT_S
from rsigym.trusted import write_private

CATEGORIES = ("mle", "kernel", "pretrain", "posttrain")
HUMAN_MINUTES = (10, 30, 120)


class TaskSpecError(ValueError):
    """A ``task.json`` that does not follow the spec format."""


@dataclass(frozen=True)
class Edit:
    """A named, parametric improvement to a task's ``config.json`` (used by menus and greedy agents)."""

    name: str
    set: dict[str, Any]


@dataclass(frozen=True)
class TaskSpec:
    """What ``task.json`` declares. Scores are raw metric values; see :func:`normalised_loss`."""

    id: str
    category: str
    metric: str
    direction: str  # "max" or "min"
    human_minutes: int
    baseline: float  # the starter's score (mean over calibration seeds)
    reference: float  # best known result or physical limit
    title: str = ""
    weight: float = 1.0
    timeout: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUT_S))
    medals: dict[str, float] | None = None  # gold/silver/bronze score thresholds
    edits: tuple[Edit, ...] = ()
    notes: str = ""
    # Where the sandbox could find the task's hidden data: "<package>:<path inside it>" or
    # "stdlib:<path>" (see rsigym.sandbox.hidden). Confined sandboxes hide them.
    leak_sources: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, path: Path) -> "TaskSpec":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise TaskSpecError(f"{path}: cannot read task spec: {err}") from err
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known - {"leaderboard", "calibration"}
        if unknown:
            raise TaskSpecError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        raw["edits"] = tuple(Edit(e["name"], dict(e["set"])) for e in raw.get("edits", ()))
        raw["leak_sources"] = tuple(raw.get("leak_sources", ()))
        raw.pop("leaderboard", None)
        raw.pop("calibration", None)
        spec = cls(**raw)
        spec.validate(path)
        return spec

    def validate(self, where: Any = "task spec") -> None:
        problems = []
        if self.category not in CATEGORIES:
            problems.append(f"category {self.category!r} not in {CATEGORIES}")
        if self.direction not in ("max", "min"):
            problems.append(f"direction must be 'max' or 'min', not {self.direction!r}")
        if self.human_minutes not in HUMAN_MINUTES:
            problems.append(f"human_minutes must be one of {HUMAN_MINUTES}")
        if not (math.isfinite(self.baseline) and math.isfinite(self.reference)):
            problems.append("baseline and reference must be finite")
        elif self.baseline == self.reference:
            problems.append("baseline equals reference: the loss would be undefined")
        for source in self.leak_sources:
            try:
                parse_leak_source(source)
            except ValueError as err:
                problems.append(str(err))
        if problems:
            raise TaskSpecError(f"{where}: " + "; ".join(problems))


HOST_KEY_ENV = "RSIGYM_HOST_KEY_FILE"
INSTANCE_SECRET_FILE = "instance_secret"


_host_key_override: ContextVar[Path | None] = ContextVar("rsigym_host_key_override", default=None)


@contextlib.contextmanager
def using_host_key_file(path: Path) -> Iterator[None]:
    """Build instances with the key in ``path`` instead, in this thread (the leak audit uses
    it to play an attacker who rebuilds an instance without the host's key)."""
    token = _host_key_override.set(Path(path))
    try:
        yield
    finally:
        _host_key_override.reset(token)


def host_key_path() -> Path:
    """Where this host's task key lives: ``$RSIGYM_HOST_KEY_FILE``, else ``$RSIGYM_HOME/host.key``,
    else ``~/.local/share/rsigym/host.key``. Share the file to get the same task instances on
    several machines (a leaderboard); keep it out of every sandbox's view."""
    if _host_key_override.get() is not None:
        return _host_key_override.get()
    if os.environ.get(HOST_KEY_ENV):
        return Path(os.environ[HOST_KEY_ENV]).expanduser()
    home = os.environ.get("RSIGYM_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".local" / "share" / "rsigym"
    return base / "host.key"


def host_key() -> bytes:
    """This host's random task key, created on first use (mode 0600, owner only).

    Concurrent first uses agree: each writes a candidate file and links it into place, and
    whoever loses the race reads the winner's key."""
    path = host_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        write_private(candidate, (secrets.token_hex(32) + "\n").encode(), exclusive=True)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < 16:
        raise ValueError(f"{path}: a host key needs at least 16 random bytes (32 hex digits)")
    return key


def instance_secret(task_id: str, seed: int, private_dir: Path) -> bytes:
    """The secret a task instance draws its test split and generated data from.

    ``HMAC-SHA256(host key, task id and seed)``: the same seed on the same host (or with the
    same key file) gives the same instance, and nothing the sandbox sees (the seed, its
    environment, the public data) lets it compute the secret. It is also written to
    ``private_dir`` (owner only), next to the labels it produced."""
    message = f"rsigym-instance:{task_id}:{int(seed)}".encode()
    secret = hmac.new(host_key(), message, hashlib.sha256).digest()
    private_dir = Path(private_dir)
    private_dir.mkdir(parents=True, exist_ok=True)
    write_private(private_dir / INSTANCE_SECRET_FILE, (secret.hex() + "\n").encode())
    return secret


def secret_rng(secret: bytes) -> np.random.Generator:
    """A NumPy generator seeded with all 256 bits of ``secret``, so that no search over small
    seeds finds it."""
    return np.random.default_rng([int.from_bytes(secret[i : i + 4], "little") for i in range(0, len(secret), 4)])


class Grade(NamedTuple):
    """A trusted grader's verdict on one solution's artefacts."""

    valid: bool
    public: float | None = None  # raw metric on the public split
    private: float | None = None  # raw metric on the private split
    error: str = ""
    details: dict | None = None  # extra figures for info/observations (e.g. speedup, medal)


class TaskResult(NamedTuple):
    """One task of one evaluation: the grade, its normalised losses and what the run cost."""

    task_id: str
    grade: Grade
    public_loss: float
    private_loss: float
    compute_s: float
    cached: bool = False
    log_tail: str = ""
    files_read: tuple[str, ...] | None = None  # shared files (lib/, weights/) the run read; None: unknown


@dataclass
class RunContext:
    """Where one solution run happens. ``scratch`` is a throw-away copy of the workspace.

    One context per run: state a task keeps from :meth:`Task.solution_env` to :meth:`Task.grade`
    goes in ``run_state``, never on the task object, so one task grades several runs at once."""

    task_id: str
    scratch: Path  # holds tasks/<id>/, lib/, weights/ copied from the workspace
    data_dir: Path  # the task's public data (read-only for the solution)
    private_dir: Path  # hidden labels and grader state; never given to the sandbox
    output_dir: Path  # where the solution writes its artefacts
    seed: int
    scale: str
    run_state: dict[str, Any] = field(default_factory=dict)  # the task's own, e.g. a one-time nonce; stays trusted

    @property
    def solution_dir(self) -> Path:
        return self.scratch / "tasks" / self.task_id


class Task(abc.ABC):
    """Base class of every task. Subclasses build data and grade artefacts."""

    def __init__(self, folder: Path, spec: TaskSpec | None = None):
        self.folder = Path(folder)
        self.spec = spec or TaskSpec.from_json(self.folder / "task.json")
        hide_leak_sources(self.spec.leak_sources)  # from every confined sandbox of this process

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.id!r})"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def starter_dir(self) -> Path:
        return self.folder / "starter"

    @property
    def shared_lib_dir(self) -> Path | None:
        """The suite's ``lib/`` folder (next to the task folders), copied into ``workspace/lib/``."""
        lib = self.folder.parent / "lib"
        return lib if lib.is_dir() else None

    def description(self) -> str:
        path = self.folder / "description.md"
        return path.read_text() if path.exists() else self.spec.title

    def starter_config(self) -> dict[str, Any]:
        """The starter's ``config.json`` (the knobs that :class:`Edit` s change), or ``{}``."""
        path = self.starter_dir / "config.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def timeout(self, scale: str) -> float:
        return float(self.spec.timeout.get(scale, self.spec.timeout.get(DEFAULT_SCALE, DEFAULT_TIMEOUT_S[DEFAULT_SCALE])))

    def limits(self, scale: str) -> Limits:
        """Resource limits for a solution run; the CPU limit follows the timeout."""
        return Limits(cpu_seconds=int(self.timeout(scale) * 4) + 10)

    @abc.abstractmethod
    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        """Build the task instance for ``seed``: public inputs in ``data_dir``, hidden ones in ``private_dir``.

        Draw every random choice that shapes hidden data (the test split, generated data) from
        :meth:`instance_rng`, never from ``seed`` itself: the solution sees ``seed``."""

    def instance_rng(self, seed: int, private_dir: Path) -> np.random.Generator:
        """A generator keyed by this instance's secret (see :func:`instance_secret`)."""
        return secret_rng(instance_secret(self.id, seed, private_dir))

    entry = "solution.py"  # the file in workspace/tasks/<id>/ that a run starts from

    def command(self, python: str) -> list[str]:
        """The command that runs the solution, in ``scratch/tasks/<id>/``."""
        return [python, self.entry]

    def solution_env(self, ctx: RunContext) -> dict[str, str]:
        """Variables the solution reads: where its data is and where its artefacts go."""
        return {
            "RSI_DATA_DIR": str(ctx.data_dir),
            "RSI_OUTPUT_DIR": str(ctx.output_dir),
            "RSI_WEIGHTS_DIR": str(ctx.scratch / "weights"),
            "RSI_SEED": str(ctx.seed),
            "RSI_SCALE": ctx.scale,
            "PYTHONPATH": str(ctx.scratch / "lib"),
        }

    def sandbox_problem(self, sandbox: Sandbox) -> str | None:
        """Why this task cannot be graded in ``sandbox`` (``reset()`` refuses with it), or ``None``."""
        return None

    @abc.abstractmethod
    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        """Score the artefacts in ``ctx.output_dir`` against ``ctx.private_dir``. Runs trusted, outside the sandbox."""

    def loss(self, score: float | None, valid: bool = True) -> float:
        return normalised_loss(score, self.spec.baseline, self.spec.reference, valid)

    def medal(self, score: float | None) -> str | None:
        """The medal a score earns against the task's leaderboard thresholds, if it has any."""
        if score is None or not self.spec.medals:
            return None
        better = (lambda a, b: a >= b) if self.spec.direction == "max" else (lambda a, b: a <= b)
        for name in ("gold", "silver", "bronze"):
            threshold = self.spec.medals.get(name)
            if threshold is not None and better(score, threshold):
                return name
        return None

