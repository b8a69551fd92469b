"""The in-harness checks, one at a time, on tiny interpreted kernels."""
from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from rsigym.envs.kernels.harness import ttir
from rsigym.envs.kernels.harness.checks import (
    AtenRecorder,
    LaunchMonitor,
    ProcessWatch,
    TamperGuard,
    overlaps,
)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="exercises the interpreter path")
STASH: dict[str, torch.Tensor] = {}  # what a cheating kernel body reads behind Triton's back


@pytest.fixture
def kernels(monkeypatch):
    """A launch monitor and two interpreted kernels: a genuine copy and one whose body calls torch."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    import triton
    import triton.language as tl

    @triton.jit
    def double(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(out_ptr + offsets, 2 * tl.load(x_ptr + offsets, mask=offsets < n), mask=offsets < n)

    @triton.jit
    def calls_torch(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        STASH["out"].copy_(STASH["x"] * 2)

    monitor = LaunchMonitor()
    monitor.install()
    monitor.describe = True
    yield monitor, double, calls_torch
    monitor.uninstall()


def test_monitor_counts_describes_and_ghosts_launches(kernels):
    monitor, double, _ = kernels
    x, out = torch.arange(8.0), torch.zeros(8)
    double[(1,)](x, out, 8, BLOCK=8)
    assert monitor.launches == 1 and torch.equal(out, 2 * x)
    (launch,) = monitor.signatures.values()
    assert dict(launch.signature) == {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"}
    monitor.ghost = True
    double[(1,)](x, torch.zeros(8), 8, BLOCK=8)
    ghost_out = torch.zeros(8)
    double[(1,)](x, ghost_out, 8, BLOCK=8)
    assert monitor.launches == 3 and not ghost_out.any(), "a ghost launch must not run"


def test_compile_check_accepts_triton_and_rejects_python_in_kernels(kernels):
    monitor, double, calls_torch = kernels
    x = torch.zeros(8)
    double[(1,)](x, torch.zeros(8), 8, BLOCK=8)
    STASH.update(x=torch.ones(8), out=torch.zeros(8))
    calls_torch[(1,)](x, torch.zeros(8), 8, BLOCK=8)  # the interpreter happily runs it
    assert STASH["out"].eq(2).all()
    verdicts = {launch.name.split(".")[-1]: ttir.compile_error(launch) for launch in monitor.signatures.values()}
    assert verdicts["double"] is None
    assert "does not compile" in verdicts["calls_torch"]


def test_recorder_allows_allocation_and_views_but_records_compute(kernels):
    monitor, double, _ = kernels
    x = torch.randn(4, 4)
    with AtenRecorder(monitor, [x]) as recorder:
        out = torch.empty_like(x)
        view = x.view(16).reshape(4, 4).t().contiguous()
        double[(1,)](view, out, 16, BLOCK=16)
    assert not recorder.violations and recorder.unused_inputs() == []
    with AtenRecorder(monitor, [x]) as recorder:
        (x + 1).exp()
    assert set(recorder.violations) == {"aten.add", "aten.exp"}
    assert recorder.unused_inputs() == [0]


def test_recorder_poisons_fresh_allocations_and_blocks_host_escapes(kernels):
    monitor, _, _ = kernels
    with AtenRecorder(monitor, []) as recorder:
        floats, ints = torch.empty(5), torch.empty(5, dtype=torch.int32)
        with pytest.raises(RuntimeError, match="Tensor.numpy"):
            floats.numpy()
        with pytest.raises(RuntimeError, match="threading.Thread.start"):
            threading.Thread(target=lambda: None).start()
    assert all(math.isnan(v) for v in floats.tolist()) and (ints != 0).all()
    assert recorder.violations["Tensor.numpy"] == 1
    assert torch.zeros(2).numpy().shape == (2,), "host access is restored after forward"


def test_tamper_guard_sees_replaced_functions():
    guard = TamperGuard(["time.perf_counter", "torch.allclose"])
    original = time.perf_counter
    try:
        time.perf_counter = lambda: 0.0
        assert guard.changes() == ["time.perf_counter"]
    finally:
        time.perf_counter = original
    assert guard.changes() == []


def test_process_watch_sees_new_threads():
    watch = ProcessWatch()
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="sneaky")
    worker.start()
    try:
        assert any("sneaky" in item for item in watch.news())
    finally:
        stop.set()
        worker.join()
    assert watch.news() == []


def test_overlap_detects_inputs_and_their_views():
    x = torch.zeros(10)
    assert overlaps(x[2:5], x) and overlaps(x.view(2, 5), x)
    assert not overlaps(torch.zeros(10), x)


def test_tamper_guard_sees_patched_harness_classes():
    from rsigym.envs.kernels.harness import runner

    guard = TamperGuard([], modules=[runner])
    original = runner.Harness.checked_forward
    try:
        runner.Harness.checked_forward = lambda self, *args: []
        assert guard.changes() == ["rsigym.envs.kernels.harness.runner.Harness.checked_forward"]
    finally:
        runner.Harness.checked_forward = original
    assert guard.changes() == []
