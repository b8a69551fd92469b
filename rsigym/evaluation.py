"""Scoring the agent system: run each task's solution in the sandbox, grade it outside.

Grading is incremental. A task's grade is cached under a hash of its own folder, the seed,
the scale, the sandbox's configuration (its spec) and the names of the shared files, together with the list of shared
files (``lib/``, ``weights/``) its run actually read and their contents. An edit re-runs
only the tasks whose folder changed or whose run read a changed file; everything else is
served from the cache.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections import OrderedDict
from typing import Any, Mapping, MutableMapping, NamedTuple, Sequence

from rsigym.constants import ERROR_TAIL_CHARS
from rsigym.loss import suite_loss
from rsigym.safecopy import UnsafeEntry, copy_regular_tree, unsafe_entries
from rsigym.sandbox import ExecResult, InfraError, LocalSandbox, Sandbox, spec_key
from rsigym.tasks import Grade, RunContext, Task, TaskResult

SHARED_DIRS = ("lib", "weights")  # workspace folders every solution run sees


class SuiteResult(NamedTuple):
    """One evaluation of the whole suite."""

    results: dict[str, TaskResult]
    loss: float  # public suite loss
    private_loss: float
    compute_s: float  # sandbox seconds actually spent (cache hits cost nothing)
    wall_s: float

    @property
    def losses(self) -> dict[str, float]:
        return {task: result.public_loss for task, result in self.results.items()}

    @property
    def private_losses(self) -> dict[str, float]:
        return {task: result.private_loss for task, result in self.results.items()}


class WorkspaceFiles:
    """Names and content digests of the shared folders (``lib/``, ``weights/``) of a workspace,
    read once per evaluation and shared by every task's cache key."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.names = sorted(
            str(path.relative_to(workspace))
            for folder in SHARED_DIRS
            for path in list_files(workspace / folder)
        ) + sorted(name for folder in SHARED_DIRS for name in unsafe_entries(workspace, folder))  # a link is an error
        self._digests: dict[str, str] = {}

    def digest(self, rel: str) -> str:
        if rel not in self._digests:
            path = self.workspace / rel
            ok = path.is_file() and not path.is_symlink()
            self._digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if ok else "absent"
        return self._digests[rel]

    def digest_of(self, names: Sequence[str]) -> str:
        return hashlib.sha256("\0".join(f"{name}={self.digest(name)}" for name in names).encode()).hexdigest()


def list_files(root: Path) -> list[Path]:
    """Regular files under ``root``, without ``__pycache__`` (never copied into a run)."""
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.relative_to(root).parts
    )


def task_key(workspace: Path, task_id: str, seed: int, scale: str, shared: WorkspaceFiles) -> str:
    """Hash of a task's own folder (every file), the seed, the scale and the *names* of the
    shared files: a new or deleted file in ``lib/`` can change what an import finds, so it
    counts even when nothing read it. Contents of shared files enter through the read set."""
    digest = hashlib.sha256(f"{task_id}\0{seed}\0{scale}\0".encode())
    for path in list_files(workspace / "tasks" / task_id):
        digest.update(str(path.relative_to(workspace)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for rel in unsafe_entries(workspace, f"tasks/{task_id}"):  # a link makes the run an error: key it
        digest.update(f"unsafe\0{rel}\0".encode())
    digest.update("\0".join(shared.names).encode())
    return digest.hexdigest()


def _copy_inputs(workspace: Path, task_id: str, scratch: Path) -> None:
    """Copy the task's folder and the shared folders; ``UnsafeEntry`` on a link or special file,
    which is never followed (a link to the private labels must not copy them in)."""
    for folder in (f"tasks/{task_id}", *SHARED_DIRS):
        copy_regular_tree(workspace, folder, scratch / folder, skip=lambda name: name == "__pycache__")


# Read tracking: every shared file of a run's copy gets access time 0 before the run; the kernel
# sets it to "now" on the first read (relatime does so when atime <= mtime), whoever reads it:
# Python, a native library, a subprocess, a container. Files still at 0 afterwards were not read.
_UNREAD = 0


@functools.lru_cache(maxsize=None)
def access_times_recorded(folder: Path) -> bool:
    """True when reads update access times on ``folder``'s file system (not ``noatime``)."""
    with tempfile.TemporaryDirectory(dir=folder, prefix="rsigym-atime-") as tmp:
        probe = Path(tmp) / "probe"
        probe.write_bytes(b"probe")
        os.utime(probe, ns=(_UNREAD, probe.stat().st_mtime_ns))
        probe.read_bytes()
        return probe.stat().st_atime_ns != _UNREAD


def _mark_unread(scratch: Path) -> None:
    for folder in SHARED_DIRS:
        for path in list_files(scratch / folder):
            os.utime(path, ns=(_UNREAD, path.stat().st_mtime_ns))


def _files_read(scratch: Path) -> tuple[str, ...]:
    return tuple(
        str(path.relative_to(scratch))
        for folder in SHARED_DIRS
        for path in list_files(scratch / folder)
        if path.stat().st_atime_ns != _UNREAD
    )


def run_task(
    task: Task,
    workspace: Path,
    data_dir: Path,
    private_dir: Path,
    sandbox: Sandbox,
    seed: int,
    scale: str,
    timeout_cap: float | None = None,
) -> TaskResult:
    """Run one task's solution from ``workspace`` in the sandbox and grade its artefacts.
    ``TaskResult.files_read`` lists the shared files the run read (``None``: not tracked here).
    ``timeout_cap``: the run stops after at most this many seconds (the compute budget left)."""
    with tempfile.TemporaryDirectory(prefix=f"rsigym-{task.id}-") as tmp:
        scratch = Path(tmp)
        try:
            _copy_inputs(workspace, task.id, scratch)
            refused = ""
        except UnsafeEntry as err:
            refused = str(err)
        track = access_times_recorded(scratch.parent) and not refused
        if track:
            _mark_unread(scratch)
        ctx = RunContext(task.id, scratch, Path(data_dir), Path(private_dir), scratch / "out", seed, scale)
        ctx.output_dir.mkdir()
        if refused:
            run = ExecResult(2, "", "", 0.0)
            grade = Grade(False, error=refused)
        elif not (ctx.solution_dir / task.entry).is_file():
            run = ExecResult(2, "", "", 0.0)
            grade = Grade(False, error=f"tasks/{task.id}/{task.entry} is missing")
        else:
            # The sandbox's writable area is the whole scratch copy (lib/, weights/, out/ too);
            # the solution itself starts in its own folder.
            run = sandbox.run(
                task.command(sandbox.python()),
                cwd=scratch,
                workdir=f"tasks/{task.id}",
                timeout=_capped(task.timeout(scale), timeout_cap),
                env=task.solution_env(ctx),
                limits=task.limits(scale),
                readonly=[ctx.data_dir],
            )
            if run.killed_reason == START_FAILED:  # the host could not start it: nothing ran to grade
                raise InfraError(f"the sandbox could not start the run of {task.id}: {run.tail(ERROR_TAIL_CHARS)}")
            grade = _safe_grade(task, ctx, run)
        files_read = _files_read(scratch) if track else None
    public = task.loss(grade.public, grade.valid)
    private = task.loss(grade.private, grade.valid)
    return TaskResult(task.id, grade, public, private, run.seconds, False, run.tail(), files_read)


def _capped(timeout: float, cap: float | None) -> float:
    return timeout if cap is None else min(timeout, cap)


def cut_by_cap(task: Task, scale: str, timeout_cap: float | None, result: TaskResult) -> bool:
    """Whether the run may have been stopped by ``timeout_cap`` rather than by the task's own
    timeout: such a grade says nothing about the solution, so it is never cached."""
    stopped = (result.grade.error or "").startswith("solution stopped")
    return stopped and timeout_cap is not None and timeout_cap < task.timeout(scale)


# The ``killed_reason`` of a run the sandbox could not start (before any solution code ran):
# a host failure, raised as ``InfraError`` so it is retried and masked, never graded or cached.
START_FAILED = "start failed"

# Disk-full on the run folder is the host's fault only when the policy's own files (its
# workspace and their history) could not have made the room: with them gone, less than this
# would be free (at most a quarter of the file system, for small ones).
DISK_ROOM_BYTES = 16 * 1024**2


def _tree_bytes(folder: Path) -> int:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def disk_full_error(run_dir: Path, policy_dirs: Sequence[Path], err: BaseException) -> InfraError | None:
    """An ``InfraError`` when ``err`` came while the run folder's file system is full and the
    policy's own files (``policy_dirs``) are not what filled it; else ``None``. Decided from
    the file system's own counts, never from a message a command printed."""
    full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        usage = shutil.disk_usage(run_dir)
        policy_bytes = sum(_tree_bytes(Path(folder)) for folder in policy_dirs)
    except OSError:
        return None
    room_needed = min(DISK_ROOM_BYTES, usage.total // 4)
    if not (full or usage.free < room_needed) or usage.free + policy_bytes >= room_needed:
        return None
    return InfraError(f"disk full on the run folder ({usage.free} bytes free): {type(err).__name__}: {err}")


def _safe_grade(task: Task, ctx: RunContext, run: ExecResult) -> Grade:
    """Grade, turning a grader exception into an invalid grade so evaluation never crashes."""
    if run.timed_out or run.killed_reason:
        reason = run.killed_reason or "killed"
        return Grade(False, error=f"solution stopped: {reason}\n{run.tail(ERROR_TAIL_CHARS)}")
    if run.returncode != 0:
        return Grade(False, error=f"solution exited with code {run.returncode}\n{run.tail(ERROR_TAIL_CHARS)}")
    try:
        return task.grade(ctx, run)
    except Exception as err:  # noqa: BLE001 - a grader bug must not end the episode
        return Grade(False, error=f"grading failed: {type(err).__name__}: {err}")


class GradeCache(OrderedDict):
    """A bounded LRU map from cache keys to what was recorded under them."""

    def __init__(self, capacity: int = 4096):
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: str, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


# Shared by every Evaluator in the process unless one is given its own: vector envs and
# repeated resets on the same seed then grade each distinct solution once.
SHARED_CACHE = GradeCache()


class Evaluator:
    """Evaluates a workspace on a list of tasks, with a grade cache and optional parallel workers.

    A task is graded again only when something its last run depended on changed: a file of
    its own folder, the set of shared file names, or the content of a shared file the run
    *read* (see :func:`run_task`). ``evaluate(..., exact=True)`` serves only grades whose
    whole input (every shared file) is unchanged; the env uses it for the final score, so a
    solution that hides its reads cannot carry a stale grade onto the leaderboard.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        sandbox: Sandbox,
        weights: Mapping[str, float],
        workers: int = 1,
        cache: MutableMapping[str, Any] | None = None,
    ):
        self.tasks = list(tasks)
        self.sandbox = sandbox
        # Grades are kept per sandbox configuration, not per provider name: the same solution may
        # read what a confined run hides, so a process-mode grade must not serve a confined run.
        self.sandbox_key = f"{sandbox.name}-{hashlib.sha256(spec_key(sandbox.spec()).encode()).hexdigest()[:16]}"
        self.weights = dict(weights)
        self.workers = max(1, int(workers))
        self._cache = SHARED_CACHE if cache is None else cache
        self.hits = 0
        self.misses = 0
        self.inexact: set[str] = set()  # tasks of the last evaluation served by their read set only

    def evaluate(
        self,
        workspace: Path,
        data_root: Path,
        private_root: Path,
        seed: int,
        scale: str,
        exact: bool = False,
        timeout_cap: float | None = None,
    ) -> SuiteResult:
        """Score ``workspace`` on every task; tasks whose inputs are unchanged come from the cache.
        ``timeout_cap``: seconds each solution run may take at most (the compute budget left)."""
        start = time.monotonic()
        shared = WorkspaceFiles(workspace)
        every_file = shared.digest_of(shared.names)
        keys = {t.id: f"{self.sandbox_key}:{task_key(workspace, t.id, seed, scale, shared)}" for t in self.tasks}
        found: dict[str, TaskResult] = {}
        self.inexact = set()
        for task in self.tasks:
            key = keys[task.id]
            exact_hit = self._cache.get(f"{key}:all:{every_file}")
            if exact_hit is not None:
                found[task.id] = exact_hit
                continue
            if exact:
                continue
            for files_read, digest, result in self._cache.get(f"{key}:reads", ()):
                if shared.digest_of(files_read) == digest:
                    found[task.id] = result
                    self.inexact.add(task.id)
                    break
        todo = [t for t in self.tasks if t.id not in found]
        graded = dict(zip((t.id for t in todo), self._grade_all(todo, workspace, data_root, private_root, seed, scale,
                                                                timeout_cap=timeout_cap)))
        by_id = {t.id: t for t in todo}
        for task_id, result in graded.items():
            if not cut_by_cap(by_id[task_id], scale, timeout_cap, result):
                self._remember(keys[task_id], every_file, shared, result)
        self.misses += len(graded)
        self.hits += len(found)
        results = {
            t.id: graded[t.id] if t.id in graded else found[t.id]._replace(cached=True, compute_s=0.0) for t in self.tasks
        }
        return SuiteResult(
            results=results,
            loss=suite_loss({k: r.public_loss for k, r in results.items()}, self.weights),
            private_loss=suite_loss({k: r.private_loss for k, r in results.items()}, self.weights),
            compute_s=sum(r.compute_s for r in graded.values()),
            wall_s=time.monotonic() - start,
        )

    def _grade_all(
        self, todo: list[Task], workspace: Path, data_root: Path, private_root: Path, seed: int, scale: str,
        timeout_cap: float | None = None,
    ) -> list[TaskResult]:
        """Grade the tasks the cache could not serve, results in ``todo`` order: here, in a thread
        pool when ``workers`` > 1. A subclass overrides this to grade elsewhere (``RayEvaluator``)."""

        def work(task: Task) -> TaskResult:
            return run_task(task, workspace, data_root / task.id, private_root / task.id, self.sandbox, seed, scale,
                            timeout_cap)

        if self.workers > 1 and len(todo) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                return list(pool.map(work, todo))
        return [work(task) for task in todo]

    def close(self) -> None:
        """Release what grading holds beyond this process (nothing for local grading)."""

    def _remember(self, key: str, every_file: str, shared: WorkspaceFiles, result: TaskResult) -> None:
        self._cache[f"{key}:all:{every_file}"] = result
        files_read = tuple(shared.names) if result.files_read is None else tuple(sorted(result.files_read))
        entries = [entry for entry in self._cache.get(f"{key}:reads", ()) if entry[0] != files_read]
        entries.append((files_read, shared.digest_of(files_read), result))
        self._cache[f"{key}:reads"] = entries[-READ_SETS_KEPT:]


READ_SETS_KEPT = 8  # read sets remembered per task key (one per distinct version of what it read)


def score_solution(
    task: Task,
    files: Mapping[str, str | bytes] | Path | None = None,
    seed: int = 0,
    scale: str = "ci",
    sandbox: Sandbox | None = None,
    weights: Mapping[str, Path] | None = None,
    lib: Mapping[str, str | bytes] | None = None,
) -> TaskResult:
    """Grade a solution of ``task`` in a fresh workspace and a fresh instance for ``seed``.

    The solution is the task's starter overlaid with ``files``: a folder copied over it, or a
    map from paths inside ``workspace/tasks/<id>/`` to their contents. ``weights`` maps file
    names to files copied into ``workspace/weights/``; ``lib`` maps paths inside
    ``workspace/lib/`` to their contents (over the suite's shared ``lib/``). It runs in
    ``sandbox`` (default: a :class:`~rsigym.sandbox.LocalSandbox`) exactly as an evaluation in
    the env runs it. This is the one way to grade a single solution outside an episode:
    calibration, benchmarks, tests and :func:`check_task` all use it."""
    with tempfile.TemporaryDirectory(prefix=f"rsigym-score-{task.id}-") as tmp:
        root = Path(tmp)
        workspace = root / "workspace"
        solution = workspace / "tasks" / task.id
        if task.starter_dir.is_dir():
            shutil.copytree(task.starter_dir, solution)
        solution.mkdir(parents=True, exist_ok=True)
        if task.shared_lib_dir:
            shutil.copytree(task.shared_lib_dir, workspace / "lib")
        (workspace / "lib").mkdir(exist_ok=True)
        (workspace / "weights").mkdir()
        for name, source in (weights or {}).items():
            shutil.copyfile(source, workspace / "weights" / name)
        if isinstance(files, (str, Path)):
            shutil.copytree(files, solution, dirs_exist_ok=True)
        else:
            _write_files(solution, files or {})
        _write_files(workspace / "lib", lib or {})
        data, private = root / "data" / task.id, root / "private" / task.id
        task.prepare(seed, scale, data, private)
        return run_task(task, workspace, data, private, sandbox or LocalSandbox(), seed, scale)


def _write_files(folder: Path, files: Mapping[str, str | bytes]) -> None:
    for relative, content in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
