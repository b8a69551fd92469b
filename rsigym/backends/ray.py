"""Ray backend: episodes and evaluations as Ray tasks and actors, on a local Ray instance or a cluster.

    rsigym distributed --seeds 0 1 2 --agent greedy --iterations 10 --out runs RSI-MLE-v0
    rsigym distributed --address auto ...           # join the cluster `ray start` set up here
    rsigym distributed --address HEAD_IP:6379 ...   # or a cluster's head node

From Python::

    from rsigym.backends.ray import connect, run_episodes
    connect()                         # a local Ray instance; connect("auto") / connect("host:port") joins a cluster
    results = run_episodes("RSI-MLE-v0", "greedy", seeds=[0, 1], env_kwargs={"suite": "toy", "tasks": ["digits"]}, out="runs")

    env = gym.make("RSI-MLE-v0", backend="ray")      # grade the suite on Ray actors (RayEvaluator)

Ray is an optional dependency (``pip install 'rsigym[ray]'``), imported only when used. Nothing
is shipped to the workers: every node imports rsigym from its own Python environment, so each
node needs the same rsigym installed, and builds task data from the seed itself.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping, MutableMapping, Sequence

from rsigym.backends.local import EpisodeResult, play_episode, write_run
from rsigym.evaluation import SHARED_DIRS, Evaluator, list_files, run_task
from rsigym.registry import load_suite, suite_entry, suite_names
from rsigym.sandbox import Sandbox, make_sandbox, spec_key
from rsigym.sandbox.common import process_alive
from rsigym.tasks import Task, TaskResult

INSTALL_HINT = "pip install 'rsigym[ray]'"


def _ray():
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"the Ray backend needs Ray ({err}); {INSTALL_HINT}") from err
    return ray


def connect(address: str | None = None, **ray_init_kwargs: Any):
    """Connect this process to Ray and return ``ray.init``'s context.

    ``address=None`` starts a private local Ray instance (``num_cpus`` etc. in ``ray_init_kwargs``
    size it); ``"auto"`` joins the cluster started on this machine with ``ray start``, and
    ``"host:port"`` the cluster whose head listens there. A process already connected keeps
    its connection (call ``ray.shutdown()`` first to switch). The dashboard is not started.

    Clusters of recent Ray versions use token authentication; joining one by ``"host:port"``
    takes ``RAY_AUTH_MODE=token`` in the environment and the cluster's token (in
    ``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``), as Ray requires of every driver.
    """
    ray = _ray()
    # "local" rather than None: ray.init() with no address would join any cluster it finds on
    # the machine (RAY_ADDRESS, the last `ray start`), which is not what "local by default" means.
    ray_init_kwargs.setdefault("include_dashboard", False)
    return ray.init(address="local" if address is None else address, ignore_reinit_error=True, **ray_init_kwargs)


def _ensure_connected(address: str | None) -> Any:
    """The ``ray`` module, connected (to ``address``) unless this process already is."""
    ray = _ray()
    if not ray.is_initialized():
        connect(address)
    return ray


def _where() -> tuple[str, str]:
    """(Ray node id, hostname) of this process; node id ``"local"`` outside Ray."""
    host = socket.gethostname()
    try:
        import ray
    except ImportError:
        return "local", host
    return (ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"), host


# -- episodes -----------------------------------------------------------------------------------
def _play_episode_on_node(*args: Any) -> EpisodeResult:
    """:func:`~rsigym.backends.local.play_episode` as a Ray task: the result names the node that played it."""
    node_id, host = _where()
    return play_episode(*args)._replace(node_id=node_id, hostname=host)


def run_episodes(
    env_id: str,
    agent: str,
    seeds: Iterable[int],
    env_kwargs: Mapping[str, Any] | None = None,
    iterations: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[EpisodeResult]:
    """Play one episode per seed, each as a Ray task, and return the results in seed order.

    Each task builds its own env (``gym.make(env_id, **env_kwargs)``, run dir in a temporary
    folder on its node), the agent (``make_agent(agent, env, seed)``), and plays until the
    episode ends. A process not yet connected to Ray connects to ``address`` first (see
    :func:`connect`); a connected one keeps its connection. ``out``: write each episode's log to
    ``out/<run_id>/log.jsonl`` as it finishes. ``options``: Ray task options (``num_cpus`` 1 by
    default, ``resources``, ``scheduling_strategy`` ...), e.g. to pin episodes to some nodes.
    """
    ray = _ensure_connected(address)
    task = ray.remote(_play_episode_on_node).options(**{"num_cpus": 1, **(options or {})})
    seeds = [int(seed) for seed in seeds]
    # A sandbox object travels as its spec (a Docker client, say, cannot be pickled); each episode builds its own.
    env_kwargs = {k: (v.spec() if isinstance(v, Sandbox) else v) for k, v in (env_kwargs or {}).items()}
    pending = {task.remote(env_id, agent, seed, env_kwargs, iterations): i for i, seed in enumerate(seeds)}
    results: list[EpisodeResult | None] = [None] * len(seeds)
    while pending:
        # Collect in finishing order, so logs of finished episodes are on disk if a later one fails.
        [ref], _ = ray.wait(list(pending), num_returns=1)
        result = ray.get(ref)
        results[pending.pop(ref)] = result
        if out is not None:
            write_run(out, result)
    return results  # type: ignore[return-value]  (every slot is filled)


# -- evaluations --------------------------------------------------------------------------------
Files = dict[str, tuple[bytes, int]]  # relative path -> (content, permission bits)


def read_files(workspace: Path, folders: Iterable[str]) -> Files:
    """The regular files under ``workspace/<folder>`` (no symlinks, no ``__pycache__``), as bytes."""
    workspace = Path(workspace)
    return {
        str(path.relative_to(workspace)): (path.read_bytes(), path.stat().st_mode & 0o777)
        for folder in folders
        for path in list_files(workspace / folder)
    }


def write_files(root: Path, files: Files) -> None:
    """Recreate ``files`` (from :func:`read_files`) under ``root``."""
    for rel, (content, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)


TaskRef = tuple[str, str] | Task  # (suite name, task id), or the task itself when no suite lists it


def task_ref(task: Task) -> TaskRef:
    """How a remote grader gets ``task``: by suite and id when a suite lists this very task
    (each node then loads it from its own install), else the pickled task object."""
    module = type(task).__module__
    for name in suite_names():
        entry = suite_entry(name)
        package = entry.entry_point.partition(":")[0]
        if not entry.takes_argument and (module == package or module.startswith(package + ".")):
            listed = {t.id: t for t in load_suite(name)}
            if task.id in listed and listed[task.id].folder.resolve() == task.folder.resolve():
                return name, task.id
    return task


PREPARED_KEPT = 16  # task instances (task, seed, scale) whose data a grader keeps
SCRATCH_PREFIX = "rsigym-grader-"  # + "<pid>-": whose process made it


def remove_stale_scratch(parent: Path) -> None:
    """Remove the scratch folders of graders whose process is gone: Ray ends actors with a kill
    at shutdown, so a grader cannot always clean up after itself; the next one on the node does."""
    for folder in Path(parent).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class Grader:
    """A Ray actor's state: grades tasks in a private scratch folder on its node, building each
    task instance's data (task, seed, scale) once and keeping the last few."""

    def __init__(self) -> None:
        remove_stale_scratch(Path(tempfile.gettempdir()))
        self.root = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, self.root, True)
        self.tasks: dict[TaskRef, Task] = {}
        self.sandboxes: dict[str, Sandbox] = {}  # by spec_key of the spec
        self.prepared: OrderedDict[tuple[str, int, str], Path] = OrderedDict()

    def grade(self, ref: TaskRef, own: Files, shared: Files, sandbox: Mapping[str, Any], seed: int, scale: str,
              timeout_cap: float | None = None) -> tuple[TaskResult, str]:
        """Run and grade one task on the files sent; returns the result and this node's id."""
        task = self._task(ref)
        instance = self._prepare(task, seed, scale)
        with tempfile.TemporaryDirectory(dir=self.root, prefix="workspace-") as tmp:
            workspace = Path(tmp)
            write_files(workspace, {**shared, **own})
            result = run_task(task, workspace, instance / "data" / task.id, instance / "private" / task.id,
                              self._sandbox(sandbox), seed, scale, timeout_cap)
        return result, _where()[0]

    def close(self) -> None:
        """Remove this grader's scratch folder (its built task data)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.prepared.clear()

    def _task(self, ref: TaskRef) -> Task:
        if isinstance(ref, Task):
            return ref
        if ref not in self.tasks:
            suite, task_id = ref
            self.tasks[ref] = load_suite(suite, [task_id])[0]
        return self.tasks[ref]

    def _sandbox(self, spec: Mapping[str, Any]) -> Sandbox:
        """The sandbox the driver configured (``Sandbox.spec()``), built once per configuration."""
        key = spec_key(spec)
        if key not in self.sandboxes:
            self.sandboxes[key] = make_sandbox(spec)
        return self.sandboxes[key]

    def _prepare(self, task: Task, seed: int, scale: str) -> Path:
        key = (task.id, int(seed), scale)
        if key in self.prepared:
            self.prepared.move_to_end(key)
            return self.prepared[key]
        instance = Path(tempfile.mkdtemp(dir=self.root, prefix="instance-"))
        (instance / "private").mkdir(mode=0o700)
        task.prepare(seed, scale, instance / "data" / task.id, instance / "private" / task.id)
        self.prepared[key] = instance
        while len(self.prepared) > PREPARED_KEPT:
            shutil.rmtree(self.prepared.popitem(last=False)[1], ignore_errors=True)
        return instance


class RayEvaluator(Evaluator):
    """An :class:`~rsigym.evaluation.Evaluator` that grades on Ray actors instead of local threads.

    The grade cache works as in the base class (in this process); only the tasks it cannot serve
    are sent out: each task's folder and the shared ``lib/`` and ``weights/`` as bytes, with the
    task's suite and id, the seed and the scale. ``workers`` actors (``num_cpus`` 1 each unless
    ``options`` say otherwise) are started on first use; a task always goes to the same actor,
    which builds the task's data on its node once per (seed, scale). ``graded_on`` maps each
    task id to the Ray node id that last graded it. ``address``: as for :func:`connect`.

    The actors hold their CPUs until :meth:`close` (or until the evaluator is garbage-collected):
    episodes run as Ray tasks with ``backend="ray"`` envs need spare CPUs for their graders.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        sandbox: Sandbox,
        weights: Mapping[str, float],
        workers: int = 1,
        cache: MutableMapping[str, Any] | None = None,
        address: str | None = None,
        options: Mapping[str, Any] | None = None,
    ):
        super().__init__(tasks, sandbox, weights, workers, cache)
        self.address = address
        # A grader lost with its node is restarted once (it rebuilds its data) and the call retried.
        self.options = {"num_cpus": 1, "max_restarts": 1, "max_task_retries": 1, **(options or {})}
        self.refs = {task.id: task_ref(task) for task in self.tasks}
        self.graded_on: dict[str, str] = {}
        self._graders: list[Any] = []

    def _grade_all(
        self, todo: list[Task], workspace: Path, data_root: Path, private_root: Path, seed: int, scale: str,
        timeout_cap: float | None = None,
    ) -> list[TaskResult]:
        if not todo:
            return []
        ray = _ensure_connected(self.address)
        if not self._graders:
            actor = ray.remote(Grader).options(**self.options)
            self._graders = [actor.remote() for _ in range(self.workers)]
        shared = ray.put(read_files(workspace, SHARED_DIRS))  # one copy in the object store for every task
        calls = [
            self._graders[self.tasks.index(task) % len(self._graders)].grade.remote(
                self.refs[task.id], read_files(workspace, [f"tasks/{task.id}"]), shared, self.sandbox.spec(), seed, scale, timeout_cap)
            for task in todo
        ]
        graded = ray.get(calls)
        for task, (_, node_id) in zip(todo, graded):
            self.graded_on[task.id] = node_id
        return [result for result, _ in graded]

    def close(self) -> None:
        """Stop the grader actors and remove their data; they also stop, less promptly, when this
        evaluator is garbage-collected (Ray ends actors nobody holds a handle to)."""
        if self._graders:
            ray = _ray()
            ray.get([grader.close.remote() for grader in self._graders])
            for grader in self._graders:
                ray.kill(grader)  # frees the actors' CPUs now rather than at garbage collection
            self._graders = []
