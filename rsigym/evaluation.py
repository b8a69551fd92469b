"""Scoring the agent system: run each task's solution in the sandbox, grade it outside.

Grades are cached by a content hash of everything a solution run can see (its task folder,
``lib/``, ``weights/``, the seed and the scale), so re-evaluating an unchanged task is free
and an edit to one task re-runs that task only.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections import OrderedDict
from typing import Mapping, MutableMapping, NamedTuple, Sequence

from rsigym.loss import suite_loss
from rsigym.sandbox import ExecResult, Sandbox
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


def hash_inputs(workspace: Path, task_id: str, seed: int, scale: str) -> str:
    """Content hash of what a solution run of ``task_id`` can read from the workspace."""
    digest = hashlib.sha256(f"{task_id}\0{seed}\0{scale}\0".encode())
    for folder in (Path("tasks") / task_id, *map(Path, SHARED_DIRS)):
        root = workspace / folder
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(str(path.relative_to(workspace)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _copy_inputs(workspace: Path, task_id: str, scratch: Path) -> None:
    for folder in (Path("tasks") / task_id, *map(Path, SHARED_DIRS)):
        source = workspace / folder
        target = scratch / folder
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False, ignore_dangling_symlinks=True)
        else:
            target.mkdir(parents=True, exist_ok=True)


def run_task(
    task: Task,
    workspace: Path,
    data_dir: Path,
    private_dir: Path,
    sandbox: Sandbox,
    seed: int,
    scale: str,
) -> TaskResult:
    """Run one task's solution from ``workspace`` in the sandbox and grade its artefacts."""
    with tempfile.TemporaryDirectory(prefix=f"rsigym-{task.id}-") as tmp:
        scratch = Path(tmp)
        _copy_inputs(workspace, task.id, scratch)
        ctx = RunContext(task.id, scratch, Path(data_dir), Path(private_dir), scratch / "out", seed, scale)
        ctx.output_dir.mkdir()
        if not (ctx.solution_dir / task.entry).is_file():
            run = ExecResult(2, "", "", 0.0)
            grade = Grade(False, error=f"tasks/{task.id}/{task.entry} is missing")
        else:
            # The sandbox's writable area is the whole scratch copy (lib/, weights/, out/ too);
            # the solution itself starts in its own folder.
            run = sandbox.run(
                ["/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", f"tasks/{task.id}", *task.command(sandbox.python())],
                cwd=scratch,
                timeout=task.timeout(scale),
                env=task.solution_env(ctx),
                limits=task.limits(scale),
                readonly=[ctx.data_dir],
            )
            grade = _safe_grade(task, ctx, run)
    public = task.loss(grade.public, grade.valid)
    private = task.loss(grade.private, grade.valid)
    return TaskResult(task.id, grade, public, private, run.seconds, False, run.tail())


# The observation shows the first 1200 characters of an error: the tail must fit, or its
# last lines (a traceback's exception, say) are the part cut.
ERROR_TAIL_CHARS = 1000


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
    """A bounded LRU map from input hashes to task results."""

    def __init__(self, capacity: int = 4096):
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: str, value: TaskResult) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


# Shared by every Evaluator in the process unless one is given its own: vector envs and
# repeated resets on the same seed then grade each distinct solution once.
SHARED_CACHE = GradeCache()


class Evaluator:
    """Evaluates a workspace on a list of tasks, with a grade cache and optional parallel workers."""

    def __init__(
        self,
        tasks: Sequence[Task],
        sandbox: Sandbox,
        weights: Mapping[str, float],
        workers: int = 1,
        cache: MutableMapping[str, TaskResult] | None = None,
    ):
        self.tasks = list(tasks)
        self.sandbox = sandbox
        self.weights = dict(weights)
        self.workers = max(1, int(workers))
        self._cache = SHARED_CACHE if cache is None else cache
        self.hits = 0
        self.misses = 0

    def evaluate(
        self,
        workspace: Path,
        data_root: Path,
        private_root: Path,
        seed: int,
        scale: str,
    ) -> SuiteResult:
        """Score ``workspace`` on every task; unchanged tasks come from the cache."""
        start = time.monotonic()
        keys = {t.id: f"{self.sandbox.name}:{hash_inputs(workspace, t.id, seed, scale)}" for t in self.tasks}
        todo = [t for t in self.tasks if keys[t.id] not in self._cache]

        def work(task: Task) -> TaskResult:
            return run_task(task, workspace, data_root / task.id, private_root / task.id, self.sandbox, seed, scale)

        if self.workers > 1 and len(todo) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                fresh = list(pool.map(work, todo))
        else:
            fresh = [work(task) for task in todo]
        for task, result in zip(todo, fresh):
            self._cache[keys[task.id]] = result
        self.misses += len(todo)
        self.hits += len(self.tasks) - len(todo)
        fresh_ids = {t.id for t in todo}
        results = {}
        for task in self.tasks:
            result = self._cache[keys[task.id]]
            results[task.id] = result if task.id in fresh_ids else result._replace(cached=True, compute_s=0.0)
        return SuiteResult(
            results=results,
            loss=suite_loss({k: r.public_loss for k, r in results.items()}, self.weights),
            private_loss=suite_loss({k: r.private_loss for k, r in results.items()}, self.weights),
            compute_s=sum(r.compute_s for r in fresh),
            wall_s=time.monotonic() - start,
        )

