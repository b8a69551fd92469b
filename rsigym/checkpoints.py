"""Checkpoints that trusted graders load: safetensors weights plus a plain JSON architecture.

A pre- or post-training solution hands in two files: ``model.safetensors`` (tensors only) and
``config.json`` naming one of the :data:`ARCHITECTURES` defined here. The grader validates the
config, checks the task's caps *before* allocating anything, builds the model from this
module's code and copies the tensors in. Nothing an agent wrote is ever unpickled or imported:
a ``torch.save`` archive or a pickle is refused with a clear error, whatever its file name.

Solutions may import this module too (``build_model``, ``save_checkpoint``, ``load_weights``)
so that what they train is exactly what the grader rebuilds.
"""
from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METADATA_KEY = "rsigym_arch"  # safetensors metadata entry holding the architecture JSON

# Hard bounds on every dimension, checked before anything is allocated: a config asking for
# a 10^9-wide layer must fail validation, not exhaust the grader's memory.
_DIM_BOUNDS = {
    "vocab_size": (2, 65_536),
    "context": (1, 8_192),
    "d_model": (1, 8_192),
    "n_layers": (1, 128),
    "n_heads": (1, 128),
    "d_ff": (1, 32_768),
}
_MAX_HEADER_BYTES = 16 * 1024 * 1024
_FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class CheckpointError(ValueError):
    """A checkpoint the grader refuses: missing, malformed, pickled, or over the task's caps."""


@dataclass(frozen=True)
class GPTConfig:
    """A decoder-only transformer: learned positions, pre-LayerNorm blocks, GELU MLP."""

    vocab_size: int
    context: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    tie_embeddings: bool = True
    dropout: float = 0.0  # training only; graders evaluate in eval mode
    arch: str = "gpt"

    @classmethod
    def from_dict(cls, raw: Any) -> "GPTConfig":
        """Validate a decoded ``config.json``; every problem is reported in one error."""
        if not isinstance(raw, Mapping):
            raise CheckpointError(f"architecture config must be a JSON object, not {type(raw).__name__}")
        allowed = {f.name for f in fields(cls)}
        problems = []
        unknown = sorted(set(raw) - allowed)
        if unknown:
            problems.append(f"unknown keys {unknown} (allowed: {sorted(allowed)})")
        for key, (low, high) in _DIM_BOUNDS.items():
            value = raw.get(key)
            if value is None:
                problems.append(f"{key} is missing")
            elif isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{key} must be an integer, not {value!r}")
            elif not low <= value <= high:
                problems.append(f"{key}={value} is outside [{low}, {high}]")
        if not isinstance(raw.get("tie_embeddings", True), bool):
            problems.append("tie_embeddings must be true or false")
        dropout = raw.get("dropout", 0.0)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            problems.append(f"dropout must be a number in [0, 1), not {dropout!r}")
        if raw.get("arch", "gpt") != "gpt":
            problems.append(f"arch {raw.get('arch')!r} is not one of {sorted(ARCHITECTURES)}")
        if not problems and raw["d_model"] % raw["n_heads"]:
            problems.append(f"d_model={raw['d_model']} is not divisible by n_heads={raw['n_heads']}")
        if problems:
            raise CheckpointError("invalid architecture config: " + "; ".join(problems))
        return cls(**{**raw, "dropout": float(dropout)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def n_params(self) -> int:
        """Parameter count, computed from the config alone (equals the built model's)."""
        d, ff = self.d_model, self.d_ff
        block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d)
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.context * d + self.n_layers * block + 2 * d + head


class _Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.ln1 = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.fc = nn.Linear(config.d_model, config.d_ff)
        self.out = nn.Linear(config.d_ff, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(self.ln1(x)).view(batch, length, 3, self.n_heads, width // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        x = x + F.dropout(self.proj(attended.transpose(1, 2).reshape(batch, length, width)), p, self.training)
        return x + F.dropout(self.out(F.gelu(self.fc(self.ln2(x)))), p, self.training)


class GPT(nn.Module):
    """The trusted transformer. ``forward(tokens[B, T]) -> logits[B, T, vocab]`` with ``T <= context``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(_init_weights)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.config.context:
            raise ValueError(f"sequence of {length} tokens exceeds the model's context of {self.config.context}")
        positions = torch.arange(length, device=tokens.device)
        h = self.tok(tokens) + self.pos(positions)
        for block in self.blocks:
            h = block(h)
        h = self.ln_f(h)
        return h @ self.tok.weight.T if self.head is None else self.head(h)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


ARCHITECTURES: dict[str, tuple[type[GPTConfig], type[nn.Module]]] = {"gpt": (GPTConfig, GPT)}


def parse_config(raw: Any) -> GPTConfig:
    """Validate a decoded architecture config against the trusted architectures."""
    arch = raw.get("arch", "gpt") if isinstance(raw, Mapping) else None
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {arch!r}; trusted architectures: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch][0].from_dict(raw)


def build_model(config: GPTConfig | Mapping[str, Any]) -> GPT:
    """Build a freshly initialised model from a config (validated if it is a plain mapping)."""
    if not isinstance(config, GPTConfig):
        config = parse_config(config)
    return ARCHITECTURES[config.arch][1](config)


@dataclass(frozen=True)
class Caps:
    """What a task allows a checkpoint to be. ``None`` leaves a field unchecked."""

    max_params: int
    vocab_size: int | None = None  # must match the task's tokenizer exactly
    min_context: int | None = None  # the grader needs at least this many positions
    max_context: int | None = None


def check_caps(config: GPTConfig, caps: Caps) -> None:
    """Refuse a config over the task's caps, before any tensor is allocated."""
    problems = []
    params = config.n_params()
    if params > caps.max_params:
        problems.append(f"the model has {params:,} parameters, above this task's cap of {caps.max_params:,}")
    if caps.vocab_size is not None and config.vocab_size != caps.vocab_size:
        problems.append(f"vocab_size is {config.vocab_size}, but this task's tokenizer has {caps.vocab_size} tokens")
    if caps.min_context is not None and config.context < caps.min_context:
        problems.append(f"context is {config.context}, but this task needs at least {caps.min_context}")
    if caps.max_context is not None and config.context > caps.max_context:
        problems.append(f"context is {config.context}, above this task's cap of {caps.max_context}")
    if problems:
        raise CheckpointError("checkpoint over the task's compute budget: " + "; ".join(problems))


def _require_regular_file(path: Path, missing_hint: str) -> None:
    # A symlink could point the trusted grader at files the solution may not read (private data);
    # errors quoting header bytes or JSON keys would then leak them.
    if path.is_symlink():
        raise CheckpointError(f"{path.name} is a symbolic link; write a regular file")
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing: {missing_hint}")


def read_safetensors(path: Path, max_bytes: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, refusing pickles and zip archives with a clear error."""
    path = Path(path)
    _require_regular_file(path, "write the weights with safetensors (see save_checkpoint)")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise CheckpointError(f"{path.name} is {path.stat().st_size:,} bytes, more than its declared architecture needs")
    with path.open("rb") as handle:
        head = handle.read(8)
        _refuse_pickles(path, head)
        if len(head) < 8:
            raise CheckpointError(f"{path.name} is not a safetensors file: only {len(head)} bytes")
        (header_len,) = struct.unpack("<Q", head)
        if not 2 <= header_len <= _MAX_HEADER_BYTES or header_len > path.stat().st_size - 8:
            raise CheckpointError(f"{path.name} is not a safetensors file: bad header length {header_len}")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path.name} is not a safetensors file: unreadable header ({err})") from err
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} is not a safetensors file: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    bad = sorted(name for name, entry in header.items() if not isinstance(entry, dict) or entry.get("dtype") not in _FLOAT_DTYPES)
    if bad:
        raise CheckpointError(f"{path.name}: tensors {bad[:5]} are not float32/float16/bfloat16")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {err}") from err
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _refuse_pickles(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise CheckpointError(
            f"{path.name} is a zip archive (the torch.save format), which carries pickled code; "
            "the grader never unpickles agent files: save the state dict with safetensors"
        )
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise CheckpointError(
            f"{path.name} is a Python pickle, which can run arbitrary code when loaded; "
            "the grader never unpickles agent files: save the state dict with safetensors"
        )


def load_weights(model: nn.Module, path: Path) -> dict[str, str]:
    """Copy a safetensors file into ``model`` (names and shapes must match exactly); returns its metadata."""
    n_params = sum(p.numel() for p in model.parameters())
    tensors, metadata = read_safetensors(path, max_bytes=4 * n_params + _MAX_HEADER_BYTES)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(
        f"{name} {tuple(tensors[name].shape)} != {tuple(expected[name].shape)}"
        for name in set(expected) & set(tensors)
        if tensors[name].shape != expected[name].shape
    )
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else "",
                 f"wrong shapes {wrong[:5]}" if wrong else ""]
        raise CheckpointError(f"{Path(path).name} does not match the declared architecture: " + "; ".join(p for p in parts if p))
    nonfinite = sorted(name for name, tensor in tensors.items() if not torch.isfinite(tensor).all())
    if nonfinite:
        raise CheckpointError(f"{Path(path).name}: tensors {nonfinite[:5]} hold NaN or infinite values")
    model.load_state_dict({name: tensor.float() for name, tensor in tensors.items()})
    return metadata


def read_config(path: Path) -> GPTConfig:
    """Read and validate an architecture ``config.json``."""
    path = Path(path)
    _require_regular_file(path, "write the architecture config next to the weights")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path.name} is not valid JSON: {err}") from err
    return parse_config(raw)


def load_checkpoint(folder: Path, caps: Caps) -> GPT:
    """The grader's path: validate ``config.json``, check ``caps``, build trusted code, load safetensors.

    Raises :class:`CheckpointError` with a message meant for the agent for anything refused.
    """
    folder = Path(folder)
    config = read_config(folder / CONFIG_FILE)
    check_caps(config, caps)
    model = build_model(config)
    load_weights(model, folder / WEIGHTS_FILE)
    return model.eval()


def save_checkpoint(model: GPT, folder: Path, name: str = "model") -> Path:
    """Write ``<name>.safetensors`` (architecture in its metadata) and the config JSON; returns the weights path.

    With the default name the files are ``model.safetensors`` and ``config.json``, what graders read;
    other names give ``<name>.safetensors`` and ``<name>.json`` (for ``weights/``).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arch = json.dumps(model.config.to_dict(), sort_keys=True)
    weights = folder / (WEIGHTS_FILE if name == "model" else f"{name}.safetensors")
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    save_file(state, str(weights), metadata={METADATA_KEY: arch})
    (folder / (CONFIG_FILE if name == "model" else f"{name}.json")).write_text(arch + "\n")
    return weights


def declared_config(weights: Path) -> GPTConfig | None:
    """The architecture a safetensors file declares: its metadata, else a sibling ``<stem>.json``; ``None`` if neither."""
    weights = Path(weights)
    _, metadata = read_safetensors(weights)
    if METADATA_KEY in metadata:
        try:
            return parse_config(json.loads(metadata[METADATA_KEY]))
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{weights.name}: architecture metadata is not JSON: {err}") from err
    sibling = weights.with_suffix(".json")
    return read_config(sibling) if sibling.is_file() else None
