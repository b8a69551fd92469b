"""Weight edits: a weighted average of safetensors checkpoints (the ``merge`` op)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

MAX_MERGE_BYTES = 2 * 1024**3


class MergeError(ValueError):
    """Checkpoints that cannot be averaged; the message says which tensor or file is off."""


def merge_checkpoints(inputs: Sequence[Path], weights: Sequence[float] | None, out: Path) -> dict[str, tuple[int, ...]]:
    """Write the weighted average of ``inputs`` to ``out``; weights default to equal and are normalised."""
    weights = list(weights) if weights is not None else [1.0] * len(inputs)
    total = float(sum(weights))
    if not np.isfinite(total) or total == 0:
        raise MergeError("merge weights must have a finite, non-zero sum")
    if sum(Path(p).stat().st_size for p in inputs) > MAX_MERGE_BYTES:
        raise MergeError(f"checkpoints larger than {MAX_MERGE_BYTES} bytes together cannot be merged here")
    merged: dict[str, np.ndarray] = {}
    reference_shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype] = {}
    for index, (path, weight) in enumerate(zip(inputs, weights)):
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise MergeError(f"{Path(path).name} is not a readable safetensors file: {err}") from err
        if index == 0:
            reference_shapes = {name: t.shape for name, t in tensors.items()}
            dtypes = {name: t.dtype for name, t in tensors.items()}
        elif set(tensors) != set(reference_shapes):
            missing = sorted(set(reference_shapes) ^ set(tensors))[:5]
            raise MergeError(f"{Path(path).name} has different tensor names than the first input (e.g. {missing})")
        for name, tensor in tensors.items():
            if tensor.shape != reference_shapes[name]:
                raise MergeError(f"tensor {name!r} has shape {tensor.shape} in {Path(path).name}, {reference_shapes[name]} in the first input")
            if not np.issubdtype(tensor.dtype, np.floating):
                if index == 0:
                    merged[name] = tensor  # integer buffers (e.g. step counters) are taken from the first input
                continue
            merged[name] = merged.get(name, 0) + tensor.astype(np.float64) * (weight / total)
    result = {name: np.asarray(value).astype(dtypes[name]) for name, value in merged.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(result, str(out))
    return {name: tuple(t.shape) for name, t in result.items()}
