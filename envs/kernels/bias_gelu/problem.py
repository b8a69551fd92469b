"""Bias add fused with GELU (tanh approximation): y = gelu(x + bias), bias broadcast over rows."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.gelu(x + bias, approximate="tanh")


batch = 16384
dim = 16384
DTYPE = "float32"

SIZES = {
    "ci": [{"batch": 16, "dim": 256}, {"batch": 17, "dim": 300}, {"batch": 3, "dim": 1001}],
    "full": [{"batch": 16384, "dim": 16384}, {"batch": 12000, "dim": 15000}, {"batch": 8191, "dim": 24577}],
}


def get_inputs():
    dtype = getattr(torch, DTYPE)
    return [torch.randn(batch, dim, dtype=dtype), torch.randn(dim, dtype=dtype)]


def get_init_inputs():
    return []
