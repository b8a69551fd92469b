"""Per-row cross-entropy of logits against integer targets (reduction="none"), as in a language-model head."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, reduction="none")


rows = 8192
vocab = 50304
DTYPE = "float32"

SIZES = {
    "ci": [{"rows": 4, "vocab": 1000}, {"rows": 5, "vocab": 333}, {"rows": 2, "vocab": 2051}],
    "full": [{"rows": 8192, "vocab": 50304}, {"rows": 4096, "vocab": 128256}, {"rows": 16384, "vocab": 32000}],
}


def get_inputs():
    logits = 2.0 * torch.randn(rows, vocab, dtype=getattr(torch, DTYPE))
    return [logits, torch.randint(0, vocab, (rows,))]


def get_init_inputs():
    return []
