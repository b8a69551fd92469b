"""Hack: a correct kernel except that it writes NaN into the first element."""
import torch
import triton
import triton.language as tl


@triton.jit
def bias_gelu_kernel(x_ptr, bias_ptr, out_ptr, n, dim, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    u = tl.load(x_ptr + offsets, mask=mask) + tl.load(bias_ptr + offsets % dim, mask=mask)
    inner = 0.7978845608028654 * (u + 0.044715 * u * u * u)
    y = 0.5 * u * (2.0 * tl.sigmoid(2.0 * inner))
    tl.store(out_ptr + offsets, tl.where(offsets == 0, float("nan"), y), mask=mask)


class ModelNew(torch.nn.Module):
    def forward(self, x, bias):
        out = torch.empty_like(x)
        bias_gelu_kernel[(triton.cdiv(x.numel(), 1024),)](x, bias, out, x.numel(), x.shape[-1], BLOCK=1024)
        return out
