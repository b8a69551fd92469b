"""Starter for layer norm: correct but naive (one program per row; mean, variance and output are three passes)."""
import json
from pathlib import Path

import torch
import triton
import triton.language as tl

CONFIG = json.loads(Path(__file__).with_name("config.json").read_text())


@triton.jit
def layernorm_kernel(x_ptr, w_ptr, b_ptr, out_ptr, cols, eps, BLOCK_SIZE: tl.constexpr, FUSED_STATISTICS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row, out_row = x_ptr + row * cols, out_ptr + row * cols
    offsets = tl.arange(0, BLOCK_SIZE)
    total = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    squares = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for start in range(0, cols, BLOCK_SIZE):
        x = tl.load(x_row + start + offsets, mask=start + offsets < cols, other=0.0)
        total += x
        if FUSED_STATISTICS:
            squares += x * x
    mean = tl.sum(total, 0) / cols
    if FUSED_STATISTICS:
        variance = tl.sum(squares, 0) / cols - mean * mean
    else:
        for start in range(0, cols, BLOCK_SIZE):
            mask = start + offsets < cols
            centred = tl.where(mask, tl.load(x_row + start + offsets, mask=mask, other=0.0) - mean, 0.0)
            squares += centred * centred
        variance = tl.sum(squares, 0) / cols
    rstd = 1.0 / tl.sqrt(variance + eps)
    for start in range(0, cols, BLOCK_SIZE):
        mask = start + offsets < cols
        x = tl.load(x_row + start + offsets, mask=mask)
        w = tl.load(w_ptr + start + offsets, mask=mask)
        b = tl.load(b_ptr + start + offsets, mask=mask)
        tl.store(out_row + start + offsets, (x - mean) * rstd * w + b, mask=mask)


class ModelNew(torch.nn.Module):
    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, weight, bias = x.contiguous(), weight.contiguous(), bias.contiguous()
        out = torch.empty_like(x)
        rows, cols = x.shape
        layernorm_kernel[(rows,)](
            x, weight, bias, out, cols, self.eps,
            BLOCK_SIZE=CONFIG["BLOCK_SIZE"], FUSED_STATISTICS=CONFIG["fused_statistics"], num_warps=CONFIG["num_warps"],
        )
        return out
