"""``RSIEnv``: the recursive self-improvement loop as a Gymnasium environment."""
from __future__ import annotations

import contextlib
import copy
import errno
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rsigym.actions import Op, ParsedAction, parse_action
from rsigym.backends import evaluator_for
from rsigym.registry import load_suite
from rsigym.constants import DEFAULT_TEXT_CHARS, MAX_ACTION_CHARS
from rsigym.evaluation import SHARED_CACHE, SuiteResult, disk_full_error
from rsigym.frames import text_frame
from rsigym.gradestore import GradeStore, grading_code_digest
from rsigym.loss import LOSS_MAX, LOSS_MIN
from rsigym.operations import COMPUTE_USED_UP, EDITING_OPS, OpOutcome, UnforeseenOpError, WorkspaceOps, WriteGuard
from rsigym.render import CHARSET, Header, OpResult, render
from rsigym.runlog import FIELD_NAMES, LogRecord, RunLog, read_log
from rsigym.sandbox import InfraError, Sandbox, make_sandbox
from rsigym.scales import check_scale
from rsigym.textspace import ObservationText
from rsigym.trusted import load_settings, run_key, save_settings
from rsigym.workspace import Workspace, edit_kind

LOGGER = logging.getLogger(__name__)


class RSIEnv(gym.Env[dict, str]):
    """
    ## Description
    An agent system — solution code, shared libraries, model weights and its own harness, all
    in a workspace — is scored on a suite of ML-engineering tasks. Each step the policy edits
    the agent system; each evaluation re-scores it. The loss is the weighted mean of the
    normalised task losses, and the reward is its decrease, so an episode's return is how much
    the policy improved the system: the environment measures *self-improvement*.

    ## Action Space
    ``Text`` (JSON): one op or a list of ops applied in order — ``write`` {path, content},
    ``patch`` {path, diff}, ``read`` {path}, ``run`` {cmd, timeout?, keep?}, ``merge``
    {inputs, weights?, out}, ``evaluate``, ``revert`` {iteration}, ``submit``. The same ops as
    Python dicts/lists are accepted too. Paths are relative to the workspace; paths escaping
    it are refused. A malformed or refused op costs the step and its error is observed;
    ``step()`` never raises because of an action or of what the workspace holds.

    ## Observation Space
    ``Dict``: ``text`` (Markdown; at reset a brief: task description excerpts, metrics and their
    direction, baselines and references, the workspace's files and the action protocol; every
    step: iteration, budget, per-task loss table, op results and errors, head of
    ``harness/memory.md``), ``losses`` ``Box(n_tasks,)`` public per-task
    losses in [-1, 2], ``loss`` ``Box(1,)`` suite loss, ``budget`` ``Box(2,)`` fractions of
    iterations and compute seconds left.

    ## Rewards
    The exact change of the public suite loss: each step's reward is the loss the rewards so
    far have paid down to minus the loss after the step, minus ``step_cost``. When the
    episode ends, the final exact re-grade (see Episode End) may change the loss; that change
    is paid in the last step's reward. So over an episode the rewards sum to L0 − L_final
    (minus step costs), with L0 the starter's loss and L_final the final public loss in ``info``.
    Task loss: ``(s_ref − s) / (s_ref − s_base)``, 1 at the starter, 0 at the reference,
    clipped to [−1, 2]; an invalid solution scores 2.

    ## Starting State
    ``reset(seed)`` builds the task instances for that seed (data splits, private labels), a
    fresh workspace from the starter files (iteration 0, evaluated), and a run log record.

    ## Iterations (the budget)
    An iteration is one evaluation of a *changed* workspace: the evaluated workspace is
    committed as iteration k and can be restored by ``revert``. Iteration 0 is the starter,
    evaluated by ``reset``. An ``evaluate`` (explicit, automatic or before a ``submit``) of a
    workspace identical to the last evaluated iteration spends nothing and returns that
    iteration's loss; so steps of only ``read`` ops, refused ops or edits that change nothing
    spend no iteration. Public evaluations never exceed the budget: once ``iterations``
    evaluations were made, a further ``evaluate`` in the same action is refused with an error
    and spends nothing.

    ## Episode End
    Terminated by a ``submit`` op; truncated when the ``iterations`` budget, the
    ``compute_seconds`` budget or ``max_steps`` is used up. The episode's result is the last
    evaluated iteration (edits made after it are not scored); when that evaluation served a
    grade from a run's own report of what it read, it is re-graded exactly. The private split's
    loss then appears in the final ``info`` and the run log only, never in the observation text.

    ## Arguments
    - ``suite``: suite name(s) (``"default"``, ``"kaggle"``, ``"toy"``, ...) — ``tasks`` filters by task id.
    - ``iterations`` (20): evaluations of a changed workspace per episode (see Iterations).
      ``compute_seconds`` (None = unlimited): sandbox seconds for ``run`` ops and solution
      runs; the env alone charges it, and a ``run`` op or a solution run the policy asks for is
      cut to what is left (once none is, they are refused). ``max_steps``: step cap (default
      ``iterations`` × 4), which ends episodes whose steps spend no iteration (a policy that
      only reads).
    - ``auto_evaluate`` (True): every step that changed the workspace ends with an evaluation.
    - ``step_cost`` (0.0): subtracted from every reward.
    - ``sandbox`` ("local"): provider name, a :class:`~rsigym.sandbox.Sandbox` or its ``spec()``.
    - ``scale`` ("ci"): ``"ci"`` (seconds per task on a CPU) or ``"full"``.
    - ``run_dir``: where the workspace, private data, ``log.jsonl`` and ``tb/`` live (a temporary
      folder removed by ``close()``, or when the env is collected or its process exits, when not
      given). ``workers`` (1): tasks graded in parallel.
    - ``backend`` ("local"): where tasks are graded — ``"local"`` (this process, ``workers``
      threads) or ``"ray"`` (:class:`~rsigym.backends.ray.RayEvaluator`: ``workers`` Ray actors,
      on a local Ray instance or the cluster at ``ray_address``, e.g. ``"auto"`` or ``"host:port"``).
    - ``agent``, ``model``, ``covariates``: tags written to every run-log record.
    - ``infra_retries`` (2), ``infra_backoff_s`` (1.0): an evaluation the host failed (see
      Infrastructure failures) is tried again this many times, after ``infra_backoff_s`` × 2^k s.
    - ``shared_cache`` (True): share grades between envs of this process and keep them in
      ``<run>/grades/`` for resumed runs (keyed by a content hash of each task's
      folder and of the shared files its run read, the seed, the scale and the sandbox;
      only the tasks an edit touches are graded again); False keeps the grades in this env
      alone (in memory: nothing shared with other envs, nothing in ``<run>/grades/``), so a
      new env or a resumed run grades afresh while one episode still grades each input once.
    - ``render_mode`` (None): ``"ansi"`` — ``render()`` returns the observation text;
      ``"rgb_array"`` — that text drawn as a fixed-size RGB image (for video recorders; it is
      also what SB3's ``make_vec_env`` asks for by default).
    - ``info_stats`` (False): also put ``info["rsi"]`` = :meth:`stats` (episode counter, wall and
      compute seconds, grade-cache hits). These differ between two runs with the same seed and
      actions, so Gymnasium's ``check_env`` determinism check fails with them; the run log and
      :meth:`stats` hold them either way.

    ## Infrastructure failures
    A failure of the host, not of the solution (the sandbox engine unreachable, a container or
    warm worker killed from outside, the run folder's disk full while trusted code writes;
    :class:`~rsigym.sandbox.InfraError`) is retried; if it persists, the step is masked:
    ``info["infra_error"]`` holds the reason, the reward is 0, the loss, the iteration and
    the compute budget are unchanged, and a ``submit`` does not end the episode. A solution's
    own failure (exception, its own timeout or memory limit, invalid output) is never one: it
    scores 2 (docs/security.md).

    ## Info
    The same for the same seed and actions (``run_dir`` and ``log_path`` name this env's
    folder): ``iteration``, ``step``, ``losses``, ``loss``, ``scores``, ``valid``, ``errors``,
    ``medals``, ``details``, ``ops``, ``kinds``, ``evaluated``, ``budget``, ``run_dir``,
    ``log_path``; at the episode's end ``private_loss`` and ``private_losses``; ``infra_error``
    on a masked step (see Infrastructure failures). rsigym never
    writes ``info["episode"]``: Gymnasium's and SB3's episode-statistics wrappers own that key.

    ## Version History
    - v0: initial release.
    """

    # One rendered frame per step; at 1 fps a recorded video shows each step's text for a second.
    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}

    def __init__(
        self,
        suite: str | Sequence[str] = "default",
        tasks: Sequence[str] | None = None,
        iterations: int = 20,
        compute_seconds: float | None = None,
        auto_evaluate: bool = True,
        step_cost: float = 0.0,
        sandbox: str | Sandbox | Mapping[str, Any] = "local",
        scale: str = "ci",
        run_dir: str | Path | None = None,
        workers: int = 1,
        max_steps: int | None = None,
        agent: str = "",
        model: str = "",
        covariates: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
        max_text_chars: int = DEFAULT_TEXT_CHARS,
        info_stats: bool = False,
        shared_cache: bool = True,
        backend: str = "local",
        ray_address: str | None = None,
        infra_retries: int = 2,
        infra_backoff_s: float = 1.0,
    ):
        check_scale(scale)
        if iterations < 1:
            raise ValueError("iterations must be at least 1")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use one of "
                             f"{self.metadata['render_modes']} or None")
        self.tasks = load_suite(suite, tasks)
        self.scale = scale
        self.iterations = int(iterations)
        self.compute_seconds = compute_seconds
        self.auto_evaluate = auto_evaluate
        self.step_cost = float(step_cost)
        self.max_steps = int(max_steps) if max_steps else self.iterations * 4
        self.agent, self.model = agent, model
        self.covariates = dict(covariates or {})
        self.render_mode = render_mode
        self.max_text_chars = max_text_chars
        self.info_stats = info_stats
        self.infra_retries, self.infra_backoff_s = max(0, int(infra_retries)), float(infra_backoff_s)
        self._infra_error = ""  # why the host failed this step's evaluation (the step is masked)
        self._unlogged: list[dict[str, Any]] = []  # records a full disk kept out of the run log so far
        self.sandbox = make_sandbox(sandbox)
        evaluator_class, extra = evaluator_for(backend, ray_address)
        self._owns_run_dir = run_dir is None
        self.run_dir = Path(tempfile.mkdtemp(prefix="rsigym-run-") if run_dir is None else run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._owns_run_dir:  # removed even without close(): when collected, or when the process exits
            weakref.finalize(self, _remove_own_folder, self.run_dir, os.getpid())
        # Shared grades also persist in the run (resume and external `rsigym evaluate` reuse them).
        cache = GradeStore(self.run_dir / "grades", SHARED_CACHE, grading_code_digest(self.tasks),
                           run_key(self.run_dir)) if shared_cache else {}
        self.evaluator = evaluator_class(self.tasks, self.sandbox, {t.id: t.spec.weight for t in self.tasks}, workers,
                                         cache=cache, **extra)
        self.run_id = f"{self.run_dir.name}-{uuid.uuid4().hex[:8]}"
        self.log = RunLog(self.run_dir / "log.jsonl")

        n = len(self.tasks)
        self.observation_space = spaces.Dict(
            {
                "text": ObservationText(max_length=max_text_chars, min_length=0, charset=CHARSET),
                "losses": spaces.Box(LOSS_MIN, LOSS_MAX, shape=(n,), dtype=np.float32),
                "loss": spaces.Box(LOSS_MIN, LOSS_MAX, shape=(1,), dtype=np.float32),
                "budget": spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32),
            }
        )
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self.episode = max((r.episode for r in read_log(self.log.path)), default=-1) if self.log.path.exists() else -1
        self._annotations: dict[str, Any] = {}  # fields for the next log record (annotate_next_record)
        self.workspace: Workspace | None = None
        self.workspace_ops: WorkspaceOps | None = None  # applies the ops of this episode (set by reset)
        self._prepared: tuple[int, str] | None = None
        self._text = ""
        self._exceptions: list[dict[str, str]] = []  # caught by the step's boundary, for the next log record
        self._record_hook: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None

    # -- paths -------------------------------------------------------------------------------
    @property
    def workspace_dir(self) -> Path:
        return self.run_dir / "workspace"

    @property
    def data_root(self) -> Path:
        return self.run_dir / "data"

    @property
    def private_root(self) -> Path:
        return self.run_dir / "private"

    @property
    def task_ids(self) -> list[str]:
        return [task.id for task in self.tasks]

    # -- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options``: ``files`` {path: content} seeds the fresh workspace;
        ``resume=True`` instead continues the last episode logged in ``run_dir``."""
        super().reset(seed=seed)
        options = options or {}
        self._save_settings()
        if options.get("resume"):
            return self._resume()
        refusals = [problem for task in self.tasks if (problem := task.sandbox_problem(self.sandbox))]
        if refusals:  # a host set-up problem, not the policy's: every grade would be invalid
            raise RuntimeError(refusals[0])
        self.data_seed = int(seed) if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        self.episode += 1
        self._annotations.clear()  # annotations made after the last episode's end belong to no step
        self._prepare_tasks()
        self.workspace = Workspace.create(
            self.workspace_dir,
            self.run_dir / "history.git",
            {task.id: task.starter_dir for task in self.tasks},
            dict.fromkeys(t.shared_lib_dir for t in self.tasks if t.shared_lib_dir),
            files=options.get("files"),
            descriptions={task.id: task.description() for task in self.tasks},
        )
        self.step_count = 0
        self.iteration = 0
        self.compute_used = 0.0
        self.started = time.monotonic()
        self.done = False
        self.submitted = False
        self._infra_error = ""
        self.workspace_ops = self._workspace_ops()
        # The starter's grade: the env's own, so not cut to the budget. A host failure that
        # outlasts the retries raises InfraError: there is no loss to start from.
        result = self._score()
        self._charge(result.compute_s)
        self._paid_loss = result.loss  # the loss the rewards have paid down to
        self.commits = {0: self.workspace.commit("iteration 0 (starter)")}
        ops: list[OpResult] = []
        self._text = self._render(None, ops, brief=True)
        record = self._record(ops, reward=0.0, evaluated=True)
        record.tasks = {
            t.id: {"category": t.spec.category, "human_minutes": t.spec.human_minutes, "weight": t.spec.weight, "metric": t.spec.metric}
            for t in self.tasks
        }
        record.integrity = self.sandbox.integrity
        self._write_record(record)
        return self._observation(), self._info(ops, evaluated=True, result=result)

    def _resume(self):
        """Rebuild the state of the last logged episode: after a crash, or from another process."""
        records = list(read_log(self.log.path))
        if not records:
            raise ValueError(f"nothing to resume: {self.log.path} holds no record; call reset() without resume")
        last = records[-1]
        logged = [r for r in records if r.episode == last.episode]
        self.episode, self.data_seed = last.episode, last.seed
        self._prepare_tasks()
        self.workspace = Workspace(self.workspace_dir, self.run_dir / "history.git")
        self.workspace.recover()  # a crash mid-commit leaves git locked
        self.commits = {r.iteration: r.commit for r in logged if r.commit}
        self.step_count, self.iteration = last.step, last.iteration
        self.compute_used = last.compute_s
        self.started = time.monotonic() - last.wall_s
        self.submitted = bool(last.terminated)
        self.done = self.submitted or bool(last.truncated)
        self.workspace_ops = self._workspace_ops()
        self._charge(self._score_last_iteration().compute_s)
        self._paid_loss = last.loss  # a re-grade that differs from the log is paid in the next reward
        ops: list[OpResult] = []
        self._text = self._render(None, ops, brief=True)
        return self._observation(), self._info(ops, evaluated=False)

    def _save_settings(self) -> None:
        """Keep the id and kwargs :func:`load_run` rebuilds this env from in the run's trusted
        state; ``env.json`` is a readable copy that nothing reads back."""
        if self.spec is None:
            return
        # A sandbox object is kept as its spec, so a resumed run gets the same configuration back.
        kwargs = {k: (v.spec() if isinstance(v, Sandbox) else v) for k, v in self.spec.kwargs.items() if k != "run_dir"}
        settings = {"env_id": self.spec.id, "kwargs": kwargs}
        save_settings(self.run_dir, settings)
        (self.run_dir / "env.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")

    def step(self, action: Any):
        if self.workspace is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self.done:
            ops = [OpResult("invalid", None, None, False, "the episode is over; call reset() to start a new one")]
            self._text = self._render(self.result.losses, ops)
            return self._observation(), 0.0, self.submitted, not self.submitted, self._info(ops, evaluated=False)
        self.step_count += 1
        self._infra_error = ""
        previous = self.result.losses
        iteration_before = self.iteration
        try:
            parsed = parse_action(action)
        except Exception as err:  # parse_action answers bad input itself; this is the boundary's backstop
            parsed = ParsedAction([], self._contain_failure("parse", err))
        results: list[OpResult] = []
        for op in parsed.ops:
            outcome = self.apply_op(op)
            results.append(outcome.result)
            if outcome.submitted:
                self.submitted = True
                break
        if parsed.error:
            results.append(OpResult("invalid", None, None, False, parsed.error))
        if self.auto_evaluate and not self.submitted:
            auto = self._contained(Op("evaluate", {}), self._auto_evaluate).result
            if not auto.ok:
                results.append(auto)
        truncated = not self.submitted and (
            self.iteration >= self.iterations or self._compute_left() == 0.0 or self.step_count >= self.max_steps
        )
        self.done = self.submitted or truncated
        if self.done:
            # the final score never rests on a run's own report of what it read
            final = self._contained(Op("evaluate", {}), self._final_score).result
            if not final.ok:
                results.append(final)
        evaluated = self.iteration > iteration_before
        if self._infra_error and not self.done:  # masked: no reward, none owed; later steps pay what changed
            reward = 0.0
        else:
            reward = self._paid_loss - self.result.loss - self.step_cost
            self._paid_loss = self.result.loss
        self._text = self._render(previous, results)
        self._write_record(self._record(results, reward=reward, evaluated=evaluated))
        return self._observation(), float(reward), self.submitted, truncated, self._info(results, evaluated)

    def apply_op(self, op: Op, write_guard: WriteGuard | None = None) -> OpOutcome:
        """Apply one validated op with the workspace-ops service, behind the step's error boundary,
        and charge the compute budget what it cost. ``step()`` applies every op of an action this
        way; code that builds on this env (the factory) calls it between steps. ``write_guard``:
        where the op may write (None: the whole workspace); a ``submit`` outcome only reports the
        wish, ``step()`` acts on it."""
        if self.workspace is None:
            raise gym.error.ResetNeeded("call reset() before apply_op()")
        return self._contained(op, lambda: self.workspace_ops.apply(op, self._compute_left(), write_guard))

    def render(self) -> str | np.ndarray | None:
        """The last observation text (``"ansi"``), or that text as an RGB image (``"rgb_array"``)."""
        if self.render_mode == "ansi":
            return self._text
        if self.render_mode == "rgb_array":
            return text_frame(self._text)
        return None

    def stats(self) -> dict[str, Any]:
        """What differs between identical runs: episode counter, seconds so far, grade-cache hits."""
        if self.workspace is None:
            raise gym.error.ResetNeeded("call reset() before stats()")
        return {
            "episode": self.episode,
            "wall_s": time.monotonic() - self.started,
            "compute_s": self.compute_used,
            "cached": {k: r.cached for k, r in self.result.results.items()},
        }

    def set_record_hook(self, hook: Callable[[dict[str, Any]], Mapping[str, Any]] | None) -> None:
        """Log-record hook for code that builds on this env (the factory): ``hook(record)`` is
        called with each record the env is about to write, after the step's evaluation, and
        returns fields to add to it or replace in it (the factory tags the ops with its roles and
        adds the per-role rewards). Unlike :meth:`annotate_next_record`, which is the acting
        agent's, it may replace the env's fields: whoever builds the env decides what its log says."""
        self._record_hook = hook

    def annotate_next_record(self, **fields: Any) -> None:
        """Log-record hook: add ``fields`` to the next record written to ``log.jsonl`` (the one of
        the step about to be taken). An agent records what only it knows this way, e.g. its token
        ``usage={"prompt_tokens": int, "completion_tokens": int}``, which the leaderboard totals.
        Fields the env writes itself are refused (an agent cannot rewrite the losses it is ranked
        on), and values must be JSON-serialisable."""
        if self.workspace is None:
            raise gym.error.ResetNeeded("call reset() before annotate_next_record()")
        taken = fields.keys() & FIELD_NAMES
        if taken:
            raise ValueError(f"the env writes {sorted(taken)} itself; annotate with other field names")
        # a copy, checked now: a value that cannot be logged raises here rather than in step()
        self._annotations.update(json.loads(json.dumps(fields, allow_nan=False)))

    def close(self) -> None:
        self.evaluator.close()
        self.sandbox.close()
        if self._owns_run_dir and self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------------
    def _prepare_tasks(self) -> None:
        key = (self.data_seed, self.scale)
        if self._prepared == key:
            return
        for task in self.tasks:
            for root in (self.data_root, self.private_root):
                shutil.rmtree(root / task.id, ignore_errors=True)
            task.prepare(self.data_seed, self.scale, self.data_root / task.id, self.private_root / task.id)
        self.private_root.chmod(0o700)
        self._prepared = key

    def _workspace_ops(self) -> WorkspaceOps:
        """The workspace-ops service of this episode (its workspace, task data and seed)."""
        run_env = {"RSI_DATA_ROOT": str(self.data_root), "RSI_SEED": str(self.data_seed), "RSI_SCALE": self.scale}
        return WorkspaceOps(self.workspace, self.sandbox, _EpisodeIterations(self), run_env, [self.data_root])

    def _compute_left(self) -> float | None:
        """Sandbox seconds left in the compute budget (None: no budget)."""
        return None if self.compute_seconds is None else max(self.compute_seconds - self.compute_used, 0.0)

    def _charge(self, seconds: float) -> None:
        """Spend sandbox seconds: the one place the compute budget is charged (``run`` ops, every
        solution run, whether the policy or the env asked for it)."""
        self.compute_used += seconds

    def _score(self, exact: bool = False, folder: Path | None = None, timeout_cap: float | None = None) -> SuiteResult:
        """Grade ``folder`` (default: the workspace) and make it the env's current result; the
        caller charges ``result.compute_s``. ``timeout_cap``: seconds a solution run may take at
        most. A host failure is retried (:meth:`_retrying_infra`); ``InfraError`` once it outlasts the retries."""
        result = self._retrying_infra(lambda: self.evaluator.evaluate(
            folder or self.workspace_dir, self.data_root, self.private_root, self.data_seed, self.scale, exact=exact,
            timeout_cap=timeout_cap,
        ))
        # whether a grade was served on a run's own report of what it read (re-graded at the end)
        self.result, self._inexact = result, bool(self.evaluator.inexact)
        return result

    def _retrying_infra(self, work: Callable[[], Any]) -> Any:
        """``work()`` (trusted grading or committing), tried again with exponential backoff while
        the host fails it; ``InfraError`` once ``infra_retries`` more tries failed too."""
        attempt = 0
        while True:
            try:
                return work()
            except Exception as err:
                infra = err if isinstance(err, InfraError) else disk_full_error(
                    self.run_dir, (self.workspace_dir, self.run_dir / "history.git"), err)
                if infra is None:
                    raise
                if attempt >= self.infra_retries:
                    raise infra from err
                LOGGER.warning("infrastructure failure (try %d of %d): %s", attempt + 1, self.infra_retries + 1, infra)
                time.sleep(self.infra_backoff_s * 2**attempt)
                attempt += 1

    def _log_record(self, record: LogRecord | dict[str, Any]) -> None:
        """Append ``record`` to the run log. On a full disk the step goes on: the record (and
        those after it) wait for the next step's append, with no torn line left behind."""
        self._unlogged.append(record)
        while self._unlogged:
            size = self.log.path.stat().st_size if self.log.path.exists() else 0
            try:
                self.log.append(self._unlogged[0])
            except OSError as err:
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                with contextlib.suppress(OSError):
                    os.truncate(self.log.path, size)
                LOGGER.warning("run log: %d record(s) wait for disk space: %s", len(self._unlogged), err)
                return
            self._unlogged.pop(0)

    # -- the step's error boundary and its evaluations ---------------------------------------
    def _contained(self, op: Op, work: Callable[[], OpOutcome]) -> OpOutcome:
        """Run one op and charge what it cost; whatever it raises becomes that op's error (observed,
        and logged with its traceback in the step's record), so the step, and the rewards it already
        earned, go on. Seconds spent before an unforeseen error are charged all the same. An
        ``InfraError`` masks the step instead and charges nothing (see Infrastructure failures)."""
        try:
            outcome = work()
        except InfraError as err:
            self._infra_error = str(err)[:2000]
            LOGGER.warning("step %s: infrastructure failure, step masked: %s", self.step_count, err)
            message = f"infrastructure failure (not yours; nothing was scored or charged, try again): {err}"[:2000]
            return OpOutcome(OpResult(op.name, op.path, None, False, message), 0.0)
        except Exception as err:
            spent, cause = 0.0, err
            if isinstance(err, UnforeseenOpError):
                spent, cause = err.cost_seconds, err.__cause__ or err
            self._charge(spent)
            kind = edit_kind(op.path) if op.path and op.name in EDITING_OPS else None
            return OpOutcome(OpResult(op.name, op.path, kind, False, self._contain_failure(op.name, cause)), spent)
        self._charge(outcome.cost_seconds)
        return outcome

    def _contain_failure(self, what: str, err: Exception) -> str:
        """Record an exception caught by the step's boundary; the error message the policy sees."""
        message = f"{what} failed: {type(err).__name__}: {err}"[:2000]
        self._exceptions.append({"op": what, "error": message, "traceback": traceback.format_exc()[-8000:]})
        LOGGER.warning("step %s: %s", self.step_count, message, exc_info=err)
        return message

    def _changed(self) -> bool:
        """Whether the workspace differs from the last evaluated iteration."""
        return self.workspace.differs_from(self.commits[self.iteration])

    def _new_iteration(self) -> float:
        """Spend one iteration: score the workspace, every solution run cut to the compute budget
        left, and commit it as the next iteration. Returns the sandbox seconds spent (not charged
        here: the caller's outcome carries them). A host failure raises ``InfraError`` with
        nothing spent: the step is masked."""
        kept = self.result, self._inexact
        result = self._score(timeout_cap=self._compute_left())
        try:
            commit = self._retrying_infra(lambda: self.workspace.commit(f"iteration {self.iteration + 1}"))
        except InfraError:
            self.result, self._inexact = kept  # no grade without its iteration's commit
            raise
        except Exception as err:
            self.result, self._inexact = kept
            raise UnforeseenOpError("evaluate", result.compute_s) from err
        self.iteration += 1
        self.commits[self.iteration] = commit
        return result.compute_s

    def _auto_evaluate(self) -> OpOutcome:
        """The evaluation ending a step under ``auto_evaluate``: only of a changed workspace, within the budgets."""
        spent = 0.0
        if self.iteration < self.iterations and self._compute_left() != 0.0 and self._changed():
            spent = self._new_iteration()
        return OpOutcome(OpResult("evaluate", None, None, True), spent)

    def _final_score(self) -> OpOutcome:
        """Re-grade the last evaluated iteration exactly when its evaluation trusted a run's
        report of what it read (a run can hide a read by resetting access times). Not cut to the
        budget left: it re-runs an iteration already scored within it, and the result must be exact."""
        spent = self._score_last_iteration(exact=True).compute_s if self._inexact else 0.0
        return OpOutcome(OpResult("evaluate", None, None, True), spent)

    def _score_last_iteration(self, exact: bool = False) -> SuiteResult:
        """Score the committed tree of the current iteration (the workspace may hold later edits)."""
        if not self._changed():
            return self._score(exact=exact)
        with tempfile.TemporaryDirectory(prefix="rsigym-score-") as tmp:
            self.workspace.export(self.commits[self.iteration], Path(tmp))
            return self._score(exact=exact, folder=Path(tmp))

    def _budget(self) -> np.ndarray:
        iterations_left = max(0.0, 1 - self.iteration / self.iterations)
        compute_left = 1.0 if not self.compute_seconds else max(0.0, 1 - self.compute_used / self.compute_seconds)
        return np.array([iterations_left, compute_left], dtype=np.float32)

    def _observation(self) -> dict[str, Any]:
        losses = np.array([self.result.losses[t] for t in self.task_ids], dtype=np.float32)
        return {
            "text": self._text,
            "losses": losses,
            "loss": np.array([self.result.loss], dtype=np.float32),
            "budget": self._budget(),
        }

    def _render(self, previous: dict[str, float] | None, ops: list[OpResult], brief: bool = False) -> str:
        """The observation text; ``brief`` (at reset and resume) adds the tasks, files and action protocol."""
        header = Header(self.spec.id if self.spec else "RSIEnv", self.step_count, self.iteration,
                        self.iterations, self.compute_used, self.compute_seconds)
        notes = [
            f"note ({task_id}): {r.grade.details['note']}"
            for task_id, r in self.result.results.items()
            if r.grade.details and r.grade.details.get("note")
        ]
        if self._compute_left() == 0.0:
            notes.append(f"**{COMPUTE_USED_UP[0].upper()}{COMPUTE_USED_UP[1:]}** ({self.compute_used:.0f} of "
                         f"{self.compute_seconds:.0f} sandbox seconds): no more run ops or evaluations; the episode "
                         f"ends on iteration {self.iteration}, edits since then are not scored.")
        if self.done:
            notes.append("**Episode over.**")
        return render(header, self.tasks, self.result, previous, ops, self.workspace.memory_head(), notes, self.max_text_chars,
                      files=self.workspace.files() if brief else None)

    def _record(self, ops: list[OpResult], reward: float, evaluated: bool) -> LogRecord:
        final = self.done
        annotations, self._annotations = self._annotations, {}
        return LogRecord(
            run_id=self.run_id,
            env_id=self.spec.id if self.spec else "RSIEnv",
            agent=self.agent,
            model=self.model,
            seed=self.data_seed,
            episode=self.episode,
            step=self.step_count,
            iteration=self.iteration,
            wall_s=round(time.monotonic() - self.started, 4),
            compute_s=round(self.compute_used, 4),
            ops=[op.log_entry() for op in ops],
            losses=self.result.losses,
            loss=self.result.loss,
            reward=reward,
            private_loss=self.result.private_loss if final else None,
            private_losses=self.result.private_losses if final else None,
            terminated=self.submitted,
            truncated=final and not self.submitted,
            evaluated=evaluated,
            commit=self.commits.get(self.iteration),
            covariates=self.covariates,
            exceptions=self._take_exceptions(),
            infra_error=self._infra_error or None,
            extra=annotations,  # never shadows a field: annotate_next_record refuses those names
        )

    def _write_record(self, record: LogRecord) -> None:
        """Append one record to the run log, with the fields of the record hook (see :meth:`set_record_hook`)."""
        if self._record_hook is not None:
            record = {**record, **self._record_hook(record)}
        self._log_record(record)

    def _take_exceptions(self) -> list[dict[str, str]]:
        """The exceptions the step's boundary caught since the last record (they go into this one)."""
        caught, self._exceptions = self._exceptions, []
        return caught

    def _info(self, ops: list[OpResult], evaluated: bool, result: SuiteResult | None = None) -> dict[str, Any]:
        result = result or self.result
        info: dict[str, Any] = {
            "iteration": self.iteration,
            "step": self.step_count,
            "losses": dict(result.losses),
            "loss": result.loss,
            "scores": {k: r.grade.public for k, r in result.results.items()},
            "valid": {k: r.grade.valid for k, r in result.results.items()},
            "errors": {k: r.grade.error for k, r in result.results.items() if r.grade.error},
            "medals": {k: (r.grade.details or {}).get("medal") for k, r in result.results.items()},
            "details": {k: r.grade.details for k, r in result.results.items() if r.grade.details},
            "ops": [op.log_entry() for op in ops],
            "kinds": sorted({op.kind for op in ops if op.kind and op.ok}),
            "evaluated": evaluated,
            "budget": {
                "iterations_left": self.iterations - self.iteration,
                "compute_left_s": None if self.compute_seconds is None else max(0.0, self.compute_seconds - self.compute_used),
            },
            "run_dir": str(self.run_dir),
            "log_path": str(self.log.path),
            "integrity": self.sandbox.integrity,
        }
        if self._infra_error:
            info["infra_error"] = self._infra_error
        if self.info_stats:  # kept out by default: check_env compares infos of identical steps
            info["rsi"] = self.stats()
        if self.done:
            info["private_loss"] = result.private_loss
            info["private_losses"] = dict(result.private_losses)
        return copy.deepcopy(info)  # callers keep infos; none may share state with the next one


class _EpisodeIterations:
    """The env's evaluated iterations as the workspace-ops service sees them
    (:class:`rsigym.operations.Iterations`), so that ``operations`` never imports the env."""

    def __init__(self, env: RSIEnv):
        self._env = env

    @property
    def iteration(self) -> int:
        return self._env.iteration

    @property
    def iterations(self) -> int:
        return self._env.iterations

    @property
    def commits(self) -> Mapping[int, str]:
        return self._env.commits

    @property
    def loss(self) -> float:
        return self._env.result.loss

    def changed(self) -> bool:
        return self._env._changed()

    def new_iteration(self) -> float:
        return self._env._new_iteration()


def _remove_own_folder(folder: Path, owner_pid: int) -> None:
    """Finalizer of an env's temporary run folder; a forked copy of the process leaves it alone."""
    if os.getpid() == owner_pid:
        shutil.rmtree(folder, ignore_errors=True)


def load_run(run_dir: str | Path, **overrides: Any) -> tuple[gym.Env, dict, dict]:
    """Rebuild the env of a run directory and resume its last episode: ``env, obs, info``."""
    run_dir = Path(run_dir)
    settings = load_settings(run_dir)  # never env.json, which anyone with the run folder can edit
    env = gym.make(settings["env_id"], **{**settings["kwargs"], **overrides, "run_dir": run_dir})
    obs, info = env.reset(options={"resume": True})
    return env, obs, info
