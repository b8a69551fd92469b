"""Starter for row cumsum: correct but naive (one program per row walks it in small blocks, carrying the total)."""
import json
from pathlib import Path

import torch
import triton
import triton.language as tl

CONFIG = json.loads(Path(__file__).with_name("config.json").read_text())


@triton.jit
def cumsum_kernel(x_ptr, out_ptr, cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row, out_row = x_ptr + row * cols, out_ptr + row * cols
    offsets = tl.arange(0, BLOCK_SIZE)
    carry = 0.0
    for start in range(0, cols, BLOCK_SIZE):
        mask = start + offsets < cols
        x = tl.load(x_row + start + offsets, mask=mask, other=0.0)
        running = tl.cumsum(x, 0) + carry
        tl.store(out_row + start + offsets, running, mask=mask)
        carry += tl.sum(x, 0)


class ModelNew(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        rows, cols = x.shape
        cumsum_kernel[(rows,)](x, out, cols, BLOCK_SIZE=CONFIG["BLOCK_SIZE"], num_warps=CONFIG["num_warps"])
        return out
