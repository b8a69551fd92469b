"""SwiGLU gate: y = silu(a) * b, in half precision."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.silu(a) * b


rows = 16384
cols = 16384
DTYPE = "float16"

SIZES = {
    "ci": [{"rows": 16, "cols": 256}, {"rows": 13, "cols": 300}, {"rows": 3, "cols": 1001}],
    "full": [{"rows": 16384, "cols": 16384}, {"rows": 12288, "cols": 22016}, {"rows": 8191, "cols": 28673}],
}


def get_inputs():
    dtype = getattr(torch, DTYPE)
    return [torch.randn(rows, cols, dtype=dtype), torch.randn(rows, cols, dtype=dtype)]


def get_init_inputs():
    return []
