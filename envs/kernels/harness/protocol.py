"""What the task, the sandboxed harness and the grader exchange: file names, the plan, output samples.

The task writes ``plan.json`` (shapes, splits, timing settings) and copies of the problem file
and the starter into the data directory; the harness writes ``records.json`` (seeds it drew,
checks, timings) and ``outputs.safetensors`` into the output directory. The grader reads only
JSON and safetensors from the output directory: nothing it loads can run code.
"""
from __future__ import annotations

import torch

PLAN = "plan.json"
PROBLEM = "problem.py"
BASELINE = "baseline_solution.py"  # the starter, timed as the baseline on a GPU
RECORDS = "records.json"
OUTPUTS = "outputs.safetensors"
NONCE = ".harness_nonce"  # read and deleted by the harness before the solution is imported
SOLUTION = "solution.py"

# Outputs with more elements than this are compared on a random sample of this many positions,
# drawn after the forward pass. Timed outputs (every timed call's, on a GPU) get a smaller sample:
# a stale, replayed or deferred result is wrong nearly everywhere.
SAMPLE_SIZE = {"trial": 1_000_000, "timing": 65_536}


def sample_size(split: str) -> int:
    return SAMPLE_SIZE["timing" if split == "timing" else "trial"]


def sample_indices(numel: int, seed: int, size: int) -> torch.Tensor:
    """The flat positions of an output that are saved and compared."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, numel, (size,), generator=generator)
