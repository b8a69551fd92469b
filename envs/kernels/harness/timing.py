"""Timing forward passes on a GPU so that a solution cannot shorten its measured time.

* The clock and synchronisation functions are captured when this module is imported, which
  the harness does before it imports the solution, and the harness's tamper guard checks that
  the public names still point at them afterwards.
* Each repeat starts with the L2 cache flushed and the device idle, and ends only after
  ``torch.cuda.synchronize()`` (all streams), so work pushed onto a side stream is counted.
* Every repeat puts new values (from a fresh seed) into the same input buffers, and every timed
  output is saved for the grader, which checks it against the trusted reference: a solution
  that caches results by pointer or by content, or returns stale, partial or deferred results
  while timed, is caught.

On a CPU the same code runs with ``time.perf_counter`` (used by tests; CPU grading does not
time).
"""
from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

_perf_counter = time.perf_counter
_gc_disable, _gc_enable, _gc_isenabled, _gc_collect = gc.disable, gc.enable, gc.isenabled, gc.collect
L2_FLUSH_BYTES = 256 * 1024**2  # larger than any current GPU's L2 (H100: 50 MB)


class Stats(NamedTuple):
    """Milliseconds over repeats."""

    min: float
    median: float
    max: float
    mean: float
    repeats: int

    @classmethod
    def of(cls, times: Sequence[float]) -> Stats:
        return cls(min(times), statistics.median(times), max(times), statistics.fmean(times), len(times))


class Clock:
    """Wall time of one call with the device idle before and after it."""

    def __init__(self, device: str):
        self.device = device
        self.cuda = device.startswith("cuda")
        if self.cuda:
            self._synchronize = torch.cuda.synchronize
            self._event = torch.cuda.Event
            self._flush_buffer = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.float32, device=device)

    def synchronize(self) -> None:
        if self.cuda:
            self._synchronize()

    def flush(self) -> None:
        """Evict the L2 cache by writing a buffer larger than it."""
        if self.cuda:
            self._flush_buffer.zero_()

    def time_ms(self, call: Callable[[], Any]) -> tuple[float, Any]:
        """``(milliseconds, result)`` of ``call()``; the end mark waits for every stream of the device."""
        self.synchronize()
        if not self.cuda:
            start = _perf_counter()
            result = call()
            return (_perf_counter() - start) * 1e3, result
        start, end = self._event(enable_timing=True), self._event(enable_timing=True)
        start.record()
        result = call()
        self._synchronize()  # device-wide: side streams must finish inside the window
        end.record()
        end.synchronize()
        return start.elapsed_time(end), result


def benchmark(
    forward: Callable[..., Any],
    draw_inputs: Callable[[], tuple[int, list]],
    clock: Clock,
    repeats: int,
    warmup: int,
    keep: Callable[[int, Any], None] | None = None,
) -> Stats:
    """Time ``forward`` over ``repeats`` calls, each on new values in the same input buffers.

    ``draw_inputs()`` gives ``(seed, inputs)``. New values every repeat defeat caches keyed by
    pointer or by content. ``keep(seed, result)`` runs right after each timed window closes,
    before any other solution code, so the harness can save every timed output for the grader:
    stale, partial or deferred results are then caught against the trusted reference.
    """
    _, buffers = draw_inputs()
    times = []
    collecting = _gc_isenabled()
    _gc_disable()  # a garbage collection inside a window is host noise, not the kernel's time
    try:
        with torch.no_grad():
            for _ in range(warmup):
                forward(*buffers)
            for _ in range(repeats):
                seed, fresh = draw_inputs()
                refill(buffers, fresh)
                del fresh
                clock.flush()
                ms, result = clock.time_ms(lambda: forward(*buffers))
                times.append(ms)
                if keep is not None:
                    keep(seed, result)
                del result
                _gc_collect(0)  # between windows: young garbage goes outside the timed part
    finally:
        if collecting:
            _gc_enable()
    return Stats.of(times)


def refill(buffers: list, fresh: list) -> None:
    """Copy new values into existing input tensors: same pointers, other contents."""
    for old, new in zip(buffers, fresh):
        if isinstance(old, torch.Tensor):
            old.copy_(new)
