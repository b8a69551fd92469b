"""Grading shared by the pre- and post-training tasks: load the checkpoint the trusted way, score it.

The compute budget is enforced by trusted parts, never taken from the solution's word: the
sandbox stops a run at the task's CPU-seconds budget (:meth:`CheckpointTask.limits`) or its
wall-clock timeout, which makes the run invalid; the grader loads ``model.safetensors`` +
``config.json`` through :func:`rsigym.checkpoints.load_checkpoint`, which checks the parameter
cap and the context bounds before allocating anything and never unpickles, and hands the
rebuilt model to the task's :meth:`CheckpointTask.score`.
"""
from __future__ import annotations

import abc
import contextlib
import math
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from rsigym.checkpoints import CONFIG_FILE, WEIGHTS_FILE, Caps, CheckpointError, GPT, load_checkpoint
from rsigym.sandbox import ExecResult, Limits
from rsigym.tasks import Grade, RunContext, Task

LIB_DIR = Path(__file__).parent / "lib"  # lmkit.py, copied into workspace/lib/ for every LM task
GRADER_THREADS = 1  # more threads thrash when other runs share the cores


# torch's thread count is process state (MKL's, and the default of threads yet to start) as well
# as the calling thread's own OpenMP setting, while graders run in a thread pool. Saving and
# restoring it per block would let one grader restore the count under another that is still
# running. So the first block to enter saves the count, every block sets its own thread, and
# the last block to leave restores it: while blocks overlap they all run with the same count.
_threads_lock = threading.Lock()
_threads_holders = 0
_threads_before = 0  # the count before the first of the overlapping blocks entered


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``min(n, the count outside)`` intra-op threads; the count outside comes
    back when the last of the blocks running at the same time (in any thread) leaves."""
    global _threads_holders, _threads_before
    with _threads_lock:
        if _threads_holders == 0:
            _threads_before = torch.get_num_threads()
        _threads_holders += 1
        inside = max(1, min(n, _threads_before))
        torch.set_num_threads(inside)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_holders -= 1
            if _threads_holders == 0:
                torch.set_num_threads(_threads_before)


class CheckpointTask(Task):
    """A task whose artefact is a checkpoint of a trusted architecture, scored on private data."""

    reference_limit: float | None = None  # a score no model can beat, used as the reference when set

    @property
    def shared_lib_dir(self) -> Path:
        return LIB_DIR

    @abc.abstractmethod
    def caps(self, scale: str) -> Caps:
        """What a checkpoint may be at ``scale``: parameter cap, vocabulary, context bounds."""

    @abc.abstractmethod
    def cpu_budget(self, scale: str) -> int:
        """CPU seconds a solution run may use at ``scale`` (all its threads together)."""

    def limits(self, scale: str) -> Limits:
        # CPU seconds rather than wall time: the budget then measures the compute a solution
        # used, whatever else shares the machine.
        return Limits(cpu_seconds=self.cpu_budget(scale))

    @abc.abstractmethod
    def score(self, model: GPT, ctx: RunContext) -> Grade:
        """Score a loaded, validated model on the public and private splits in ``ctx.private_dir``."""

    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        try:
            _check_outputs(ctx.output_dir)
            with torch_threads(GRADER_THREADS):
                model = load_checkpoint(ctx.output_dir, self.caps(ctx.scale))
                grade = self.score(model, ctx)
        except CheckpointError as err:
            return Grade(False, error=f"checkpoint refused: {err}")
        details = dict(grade.details or {}, params=model.config.n_params(), train_seconds=round(run.seconds, 2))
        return grade._replace(details=details)


def _check_outputs(output: Path) -> None:
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE) if not (output / name).is_file()]
    if missing:
        found = sorted(p.name for p in output.iterdir())[:10] if output.is_dir() else []
        raise CheckpointError(
            f"the solution wrote no {' or '.join(missing)} to $RSI_OUTPUT_DIR (found: {found or 'nothing'}); "
            "save with rsigym.checkpoints.save_checkpoint(model, output_dir)"
        )


@torch.no_grad()
def documents_bits(model: GPT, docs: np.ndarray, bos: int, batch: int = 256) -> float:
    """Mean ``-log2 p(x_t | BOS, x_<t)`` over every symbol of fixed-length documents ``docs[N, L]``."""
    total = 0.0
    for start in range(0, len(docs), batch):
        targets = torch.from_numpy(np.ascontiguousarray(docs[start : start + batch])).long()
        inputs = torch.cat([torch.full((len(targets), 1), bos), targets[:, :-1]], dim=1)
        logits = model(inputs)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"))
    return total / docs.size / math.log(2)


@torch.no_grad()
def stream_bits(model: GPT, stream: np.ndarray, batch: int = 32) -> float:
    """Mean ``-log2 p`` of ``stream[1:]`` with sliding windows of the model's context and half-context stride.

    Every token is scored once, with at least half a context of history (except at the start).
    """
    context = model.config.context
    n_targets = len(stream) - 1
    if n_targets < 1:
        raise ValueError("stream too short to score")
    length = min(context, n_targets)
    stride = max(1, length // 2)
    starts = list(range(0, n_targets - length + 1, stride))
    if starts[-1] + length < n_targets:
        starts.append(n_targets - length)
    tokens = torch.from_numpy(stream.astype(np.int64))
    total, scored_until = 0.0, 0  # targets below index scored_until (in stream[1:] terms) are done
    for first in range(0, len(starts), batch):
        chunk = starts[first : first + batch]
        inputs = torch.stack([tokens[s : s + length] for s in chunk])
        targets = torch.stack([tokens[s + 1 : s + 1 + length] for s in chunk])
        losses = F.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none")
        for row, s in enumerate(chunk):
            skip = max(0, scored_until - s)
            total += float(losses[row, skip:].sum())
            scored_until = s + length
    return total / n_targets / math.log(2)
