"""ModelNew for the KernelBench-style file written by test_kernelbench_file.py: relu(x * scale)."""
import torch
import triton
import triton.language as tl


@triton.jit
def scale_relu_kernel(x_ptr, scale_ptr, out_ptr, n, dim, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    y = tl.load(x_ptr + offsets, mask=mask) * tl.load(scale_ptr + offsets % dim, mask=mask)
    tl.store(out_ptr + offsets, tl.maximum(y, 0.0), mask=mask)


class ModelNew(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.randn(dim))  # same init order as Model, so same values

    def forward(self, x):
        out = torch.empty_like(x)
        n = x.numel()
        scale_relu_kernel[(triton.cdiv(n, 1024),)](x, self.scale, out, n, x.shape[-1], BLOCK=1024)
        return out
