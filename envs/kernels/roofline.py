"""The physical limit of a problem on a device: max(bytes moved / bandwidth, FLOPs / FLOP rate).

Bytes moved are the compulsory traffic (every input, parameter and output touched once);
FLOPs are what ``torch.utils.flop_counter`` counts for the reference forward (matmuls,
convolutions, attention; elementwise work is free at this level, as it is bandwidth-bound).
The device's peaks are measured, not taken from a data sheet: a large device-to-device copy
for bandwidth and a large matmul per dtype for the FLOP rate. All of this runs in the trusted
grader.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from rsigym.envs.kernels.harness.problem_file import flatten_tensors
from torch.utils.flop_counter import FlopCounterMode

PEAK_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


class Work(NamedTuple):
    """What one forward pass must do at least."""

    bytes: int
    flops: int
    dtype: torch.dtype  # the dtype whose FLOP rate bounds the compute


class DevicePeaks(NamedTuple):
    name: str
    bandwidth: float  # bytes per second
    flops: dict  # dtype name -> FLOP per second

    def flop_rate(self, dtype: torch.dtype) -> float:
        key = str(dtype).removeprefix("torch.")
        return self.flops.get(key) or self.flops["float32"]


def count_work(model: torch.nn.Module, inputs: Sequence[Any]) -> tuple[Work, Any]:
    """The compulsory traffic and counted FLOPs of ``model(*inputs)``, and its output."""
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
    state = list(model.parameters()) + list(model.buffers())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(*inputs)
    moved = sum(t.numel() * t.element_size() for t in (*tensors, *state, *flatten_tensors(output)) if isinstance(t, torch.Tensor))
    floating = [t.dtype for t in (*tensors, *state) if t.is_floating_point()]
    dtype = floating[0] if floating else torch.float32
    return Work(int(moved), int(counter.get_total_flops()), dtype), output


def roofline_ms(work: Work, peaks: DevicePeaks) -> float:
    """Milliseconds of the slower of moving the bytes and doing the FLOPs at the measured peaks."""
    return 1e3 * max(work.bytes / peaks.bandwidth, work.flops / peaks.flop_rate(work.dtype))


def _median_ms(call, repeats: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    call()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start.record()
        call()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def _copy_bandwidth(device: torch.device) -> float:
    """Bytes per second of a 1 GiB device-to-device copy (read + write)."""
    source = torch.empty(1024**3 // 4, dtype=torch.float32, device=device).uniform_()
    target = torch.empty_like(source)
    return 2 * source.nbytes / (_median_ms(lambda: target.copy_(source), 10) / 1e3)


def _matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 8192) -> float:
    """FLOP per second of an n-cube matmul in ``dtype``."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / (_median_ms(lambda: a @ b, 5) / 1e3)


@functools.cache
def measure_peaks(device_index: int = 0) -> DevicePeaks:
    """Measured bandwidth and per-dtype FLOP rates of a CUDA device (TF32 off: fp32 problems are graded at fp32 tolerance)."""
    device = torch.device("cuda", device_index)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.cuda.device(device):
            bandwidth = _copy_bandwidth(device)
            flops = {str(dtype).removeprefix("torch."): _matmul_rate(device, dtype) for dtype in PEAK_DTYPES}
            torch.cuda.empty_cache()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return DevicePeaks(torch.cuda.get_device_name(device), bandwidth, flops)
