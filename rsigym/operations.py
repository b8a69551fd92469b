"""The workspace-ops service: the one place that says what every op does.

:class:`WorkspaceOps` applies each validated op (``write``, ``patch``, ``read``, ``run``,
``merge``, ``revert``, ``evaluate``, ``submit``) and returns an :class:`OpOutcome`: what the
policy observes, the sandbox seconds the op spent and the workspace paths it wrote. It never
charges a budget: its caller (:class:`rsigym.env.RSIEnv`, the one owner of the compute budget)
passes in what is left and charges the returned cost. ``evaluate`` and ``submit`` act on the
caller's iterations through the :class:`Iterations` protocol, so this module never imports the
env. A :class:`WriteGuard` limits where an op may write (the factory gives each role one).

Errors a policy can cause become a failed :class:`OpOutcome` with a message that says what to
fix; anything unforeseen is raised as :class:`UnforeseenOpError` (carrying the seconds already
spent) for the caller's step boundary.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping, NamedTuple, Protocol

from rsigym.actions import Op, is_utf8
from rsigym.constants import MAX_FILE_BYTES, MAX_KEEP_BYTES, MAX_WORKSPACE_BYTES, READ_CHARS, RUN_OUTPUT_CHARS
from rsigym.merging import MergeError, merge_checkpoints
from rsigym.patching import PatchError, apply_unified_diff
from rsigym.render import OpResult
from rsigym.sandbox import InfraError, Sandbox
from rsigym.workspace import PathRefused, Workspace, edit_kind

EDITING_OPS = frozenset({"write", "patch", "merge", "revert", "run"})
COMPUTE_USED_UP = "the compute budget is used up"  # the start of every refusal for want of compute


class OpOutcome(NamedTuple):
    """What applying one op did."""

    result: OpResult  # what the policy observes (and the run log records)
    cost_seconds: float = 0.0  # sandbox seconds spent: a run op's command, an evaluation's solution runs
    wrote: tuple[str, ...] = ()  # workspace paths (files or folders) it wrote; empty unless it succeeded
    submitted: bool = False  # a ``submit``: the episode ends after this op


class WriteGuard(Protocol):
    """Where one actor may write; given to :meth:`WorkspaceOps.apply` (the factory's roles)."""

    def refusal(self, path: str) -> str:
        """Why ``path`` may not be written, or ``""`` when it may."""

    def reverts(self) -> tuple[str, ...]:
        """The workspace folders a ``revert`` restores (the rest is left as it is)."""


class Iterations(Protocol):
    """The caller's evaluated iterations, which ``evaluate``, ``submit`` and ``revert`` act on."""

    @property
    def iteration(self) -> int:
        """The last evaluated iteration (0: the starter)."""

    @property
    def iterations(self) -> int:
        """The iteration budget: evaluations of a changed workspace per episode."""

    @property
    def commits(self) -> Mapping[int, str]:
        """The commit of every evaluated iteration."""

    @property
    def loss(self) -> float:
        """The suite loss of the last evaluated iteration."""

    def changed(self) -> bool:
        """Whether the workspace differs from the last evaluated iteration."""

    def new_iteration(self) -> float:
        """Grade the workspace and commit it as the next iteration; the sandbox seconds spent."""


class UnforeseenOpError(Exception):
    """An op failed in a way no validation foresaw; ``__cause__`` is the error. It carries the
    sandbox seconds the op spent before failing, which are charged all the same."""

    def __init__(self, op: str, cost_seconds: float):
        super().__init__(f"{op} failed unexpectedly")
        self.cost_seconds = cost_seconds


@dataclass
class _Call:
    """One :meth:`WorkspaceOps.apply` call: what it may spend and what it did so far."""

    budget_left: float | None
    guard: WriteGuard | None
    seconds: float = 0.0
    wrote: list[str] = field(default_factory=list)
    submitted: bool = False


def written_paths(op: Op) -> list[str]:
    """The workspace paths an op writes (``revert``: see :meth:`WriteGuard.reverts`)."""
    if op.name in ("write", "patch"):
        return [op.args["path"]]
    if op.name == "merge":
        return [op.args["out"]]
    if op.name == "run":
        return list(op.args.get("keep", []))
    return []


class WorkspaceOps:
    """Applies ops to one episode's workspace.

    ``run_env``: the environment variables of a ``run`` op's command (the task data's root,
    seed and scale); ``readonly``: folders a ``run`` op may read but not write.
    """

    def __init__(self, workspace: Workspace, sandbox: Sandbox, history: Iterations,
                 run_env: Mapping[str, str], readonly: list[Path]):
        self.workspace = workspace
        self.sandbox = sandbox
        self.history = history
        self.run_env = dict(run_env)
        self.readonly = list(readonly)

    def apply(self, op: Op, budget_left: float | None = None, guard: WriteGuard | None = None) -> OpOutcome:
        """Apply one validated op. ``budget_left``: sandbox seconds the op may still spend (None:
        no limit); ``guard``: where it may write (None: the whole workspace)."""
        call = _Call(budget_left, guard)
        kind = edit_kind(op.path) if op.path and op.name in EDITING_OPS else None
        try:
            refused = self._refusal(op, guard)
            if refused:
                raise PathRefused(refused)
            output = _HANDLERS[op.name](self, op, call)
        except (PathRefused, PatchError, MergeError, FileNotFoundError, IsADirectoryError, UnicodeDecodeError,
                ValueError) as err:
            return OpOutcome(OpResult(op.name, op.path, kind, False, str(err)), call.seconds)
        except OSError as err:
            return OpOutcome(OpResult(op.name, op.path, kind, False, f"{type(err).__name__}: {err.strerror or err}"),
                             call.seconds)
        except InfraError:  # the host failed the op: the env masks the step, nothing is charged
            raise
        except UnforeseenOpError as err:  # the caller's evaluation failed after spending seconds
            raise UnforeseenOpError(op.name, call.seconds + err.cost_seconds) from err.__cause__
        except Exception as err:
            raise UnforeseenOpError(op.name, call.seconds) from err
        return OpOutcome(OpResult(op.name, op.path, kind, True, output=output), call.seconds, tuple(call.wrote),
                         call.submitted)

    @staticmethod
    def _refusal(op: Op, guard: WriteGuard | None) -> str:
        if guard is None:
            return ""
        return next((why for path in written_paths(op) if (why := guard.refusal(path))), "")

    # -- helpers -----------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.workspace.root

    def _room_left(self) -> int:
        """Bytes the workspace may still grow by before it holds :data:`MAX_WORKSPACE_BYTES`."""
        used = sum(path.stat().st_size for path in self.root.rglob("*") if path.is_file() and not path.is_symlink())
        return MAX_WORKSPACE_BYTES - used

    # -- the ops -----------------------------------------------------------------------------
    def _write(self, op: Op, call: _Call) -> str:
        content = op.args["content"].encode()
        if len(content) > MAX_FILE_BYTES:
            raise ValueError(f"content is {len(content)} bytes; a write holds at most {MAX_FILE_BYTES}")
        _ensure_room(self._room_left(), self.workspace.resolve(op.args["path"]), len(content))
        self.workspace.write(op.args["path"], content)
        call.wrote.append(op.args["path"])
        return ""

    def _patch(self, op: Op, call: _Call) -> str:
        path = self.workspace.resolve(op.args["path"])
        if not path.is_file():
            raise FileNotFoundError(f"{op.args['path']!r} does not exist; use write to create it")
        patched = apply_unified_diff(path.read_text(), op.args["diff"])
        if len(patched.encode()) > MAX_FILE_BYTES:
            raise ValueError(f"the patched file would exceed {MAX_FILE_BYTES} bytes")
        _ensure_room(self._room_left(), path, len(patched.encode()))
        self.workspace.write(op.args["path"], patched)
        call.wrote.append(op.args["path"])
        return ""

    def _read(self, op: Op, call: _Call) -> str:
        return self.workspace.read(op.args["path"], max_chars=READ_CHARS)

    def _run(self, op: Op, call: _Call) -> str:
        """Run a command on a throw-away copy of the workspace; ``keep`` paths are copied back.
        The command's timeout is cut to the compute budget left."""
        keep = [self.workspace.resolve(path) for path in op.args.get("keep", [])]
        timeout = float(op.args.get("timeout", 60))
        if call.budget_left is not None:
            timeout = min(timeout, max(call.budget_left, 0.0))
            if timeout <= 0:
                raise ValueError(f"{COMPUTE_USED_UP}; no more run ops")
        with tempfile.TemporaryDirectory(prefix="rsigym-run-") as tmp:
            copy = Path(tmp) / "workspace"
            shutil.copytree(self.root, copy, symlinks=False, ignore_dangling_symlinks=True)
            result = self.sandbox.run(
                op.args["cmd"], cwd=copy, timeout=timeout, env={**self.run_env, "PYTHONPATH": str(copy / "lib")},
                readonly=self.readonly,
            )
            call.seconds += result.seconds
            kept = self._copy_back(copy, keep)
        call.wrote.extend(op.args.get("keep", []))
        status = f"exit code {result.returncode}" + (f", {result.killed_reason}" if result.killed_reason else "")
        kept_note = f"\nkept: {', '.join(kept)}" if kept else ""
        return f"[{status}, {result.seconds:.1f} s]{kept_note}\n{result.tail(RUN_OUTPUT_CHARS)}"

    def _copy_back(self, copy: Path, targets: list[Path]) -> list[str]:
        """Copy regular files under ``targets`` from the run's copy into the workspace."""
        kept, total, room = [], 0, self._room_left()
        for target in targets:
            rel = target.relative_to(self.root)
            source = copy / rel
            files = [source] if source.is_file() else sorted(source.rglob("*")) if source.is_dir() else []
            for file in files:
                if file.is_symlink() or not file.is_file():
                    continue  # symlinks planted by the command never enter the workspace
                if not is_utf8(str(file.relative_to(copy))):
                    raise ValueError(f"kept file {ascii(str(file.relative_to(copy)))} has a name that is not UTF-8; "
                                     "rename it in the run (nothing was kept from this file on)")
                total += file.stat().st_size
                if total > MAX_KEEP_BYTES:
                    raise ValueError(f"kept files exceed {MAX_KEEP_BYTES} bytes; keep less")
                relative = str(file.relative_to(copy))
                room = _ensure_room(room, self.workspace.resolve(relative), file.stat().st_size)
                self.workspace.write(relative, file.read_bytes())
                kept.append(relative)
        return kept

    def _merge(self, op: Op, call: _Call) -> str:
        inputs = [self.workspace.resolve(path) for path in op.args["inputs"]]
        for path, rel in zip(inputs, op.args["inputs"]):
            if not path.is_file():
                raise FileNotFoundError(f"{rel!r} does not exist")
        out = self.workspace.resolve(op.args["out"])
        if out.is_dir():
            raise IsADirectoryError(f"merge.out {op.args['out']!r} is a folder; name a file, e.g. 'weights/merged.safetensors'")
        _ensure_room(self._room_left(), out, max(path.stat().st_size for path in inputs))  # the average is as large as an input
        shapes = merge_checkpoints(inputs, op.args.get("weights"), out)
        call.wrote.append(op.args["out"])
        return f"merged {len(inputs)} checkpoints ({len(shapes)} tensors) into {op.args['out']}"

    def _revert(self, op: Op, call: _Call) -> str:
        """Restore the workspace (under a guard: the folders it reverts) to an iteration."""
        iteration = op.args["iteration"]
        commits = self.history.commits
        if iteration not in commits:
            raise ValueError(f"no iteration {iteration}; iterations so far: 0..{self.history.iteration}")
        if call.guard is None:
            self.workspace.restore(commits[iteration])
            call.wrote.extend(sorted({PurePosixPath(rel).parts[0] for rel in self.workspace.files()}))
            return f"workspace restored to iteration {iteration}"
        folders = call.guard.reverts()
        self._restore_folders(commits[iteration], folders)
        call.wrote.extend(folders)
        return f"{', '.join(folders)} restored to iteration {iteration}"

    def _restore_folders(self, commit: str, folders: tuple[str, ...]) -> None:
        """Make ``folders`` hold what they held at ``commit``; the rest of the workspace stays."""
        with tempfile.TemporaryDirectory(prefix="rsigym-revert-") as tmp:
            snapshot = Path(tmp)
            self.workspace.export(commit, snapshot)
            for rel in self.workspace.files():
                if any(_is_under(rel, folder) for folder in folders) and not (snapshot / rel).is_file():
                    self.workspace.resolve(rel).unlink()
            for folder in folders:
                source = snapshot / folder
                for file in sorted(source.rglob("*")) if source.is_dir() else []:
                    if file.is_file() and not file.is_symlink():
                        self.workspace.write(str(file.relative_to(snapshot)), file.read_bytes())

    def _evaluate(self, op: Op, call: _Call) -> str:
        """A new iteration, unless nothing changed or a budget is spent."""
        history = self.history
        if not history.changed():
            return f"suite loss {history.loss:.4f} (workspace unchanged since iteration {history.iteration}; no iteration spent)"
        if history.iteration >= history.iterations:
            raise ValueError(f"refused: the iteration budget ({history.iterations} evaluations) is used up; "
                             "edits since the last iteration are not scored")
        if call.budget_left is not None and call.budget_left <= 0:
            raise ValueError(f"refused: {COMPUTE_USED_UP}; edits since the last iteration are not scored")
        call.seconds += history.new_iteration()
        return f"suite loss {history.loss:.4f} (iteration {history.iteration})"

    def _submit(self, op: Op, call: _Call) -> str:
        """Evaluate pending edits (budgets allowing) and end the episode on the last evaluated iteration."""
        history = self.history
        unevaluated = history.changed()
        spent_up = ""
        if unevaluated and history.iteration >= history.iterations:
            spent_up = "the iteration budget is used up"
        elif unevaluated and call.budget_left is not None and call.budget_left <= 0:
            spent_up = COMPUTE_USED_UP
        elif unevaluated:
            call.seconds += history.new_iteration()
        call.submitted = True
        note = f"submitted iteration {history.iteration}: suite loss {history.loss:.4f}"
        if spent_up:
            note += f"; the edits since then were not scored ({spent_up})"
        return note


def _ensure_room(room: int, target: Path, size: int) -> int:
    """Room left once ``target`` holds ``size`` bytes; refuse when there is none."""
    growth = size - (target.stat().st_size if target.is_file() else 0)
    if growth > room:
        raise ValueError(f"the workspace may hold at most {MAX_WORKSPACE_BYTES} bytes; this edit would pass that "
                         f"by {growth - room}. Overwrite large files with smaller ones first")
    return room - growth


def _is_under(path: str, folder: str) -> bool:
    """Whether workspace path ``path`` lies in ``folder`` (or is it)."""
    parts, head = PurePosixPath(path).parts, PurePosixPath(folder).parts
    return bool(head) and parts[: len(head)] == head


_HANDLERS: dict[str, Callable[[WorkspaceOps, Op, _Call], str]] = {
    "write": WorkspaceOps._write,
    "patch": WorkspaceOps._patch,
    "read": WorkspaceOps._read,
    "run": WorkspaceOps._run,
    "merge": WorkspaceOps._merge,
    "revert": WorkspaceOps._revert,
    "evaluate": WorkspaceOps._evaluate,
    "submit": WorkspaceOps._submit,
}
