"""Model and training helpers shared by the pre- and post-training solutions (copied into ``workspace/lib/``).

Edit freely: graders read only the checkpoint a solution writes (``model.safetensors`` plus
``config.json``) and rebuild the network from their own trusted copy of this architecture, so
any training code works as long as the saved tensors keep the names and shapes of :class:`GPT`
below and the config keeps the keys of :class:`GPTConfig`.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F

from safetensors.torch import load_file, save_file
from torch import nn

@dataclass(frozen=True)
class GPTConfig:
    """The architecture ``config.json`` declares (what the grader validates and rebuilds)."""

    vocab_size: int
    context: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    tie_embeddings: bool = True
    dropout: float = 0.0
    arch: str = "gpt"

    def n_params(self) -> int:
        d, ff = self.d_model, self.d_ff
        block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d)
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.context * d + self.n_layers * block + 2 * d + head


class Block(nn.Module):
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
    """Decoder-only transformer: ``forward(tokens[B, T]) -> logits[B, T, vocab]``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            h = block(h)
        h = self.ln_f(h)
        return h @ self.tok.weight.T if self.head is None else self.head(h)


def save_checkpoint(model: GPT, folder: Path, name: str = "model") -> Path:
    """Write ``model.safetensors`` + ``config.json`` (or ``<name>.safetensors`` + ``<name>.json``)."""
    folder.mkdir(parents=True, exist_ok=True)
    arch = json.dumps(asdict(model.config), sort_keys=True)
    weights = folder / f"{name}.safetensors"
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(weights),
              metadata={"rsigym_arch": arch})
    (folder / ("config.json" if name == "model" else f"{name}.json")).write_text(arch + "\n")
    return weights


def declared_config(weights: Path) -> GPTConfig | None:
    """The architecture a checkpoint declares: its metadata, else a sibling ``<stem>.json``; ``None`` if neither."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "rsigym_arch" in metadata:
        return GPTConfig(**json.loads(metadata["rsigym_arch"]))
    sibling = weights.with_suffix(".json")
    return GPTConfig(**json.loads(sibling.read_text())) if sibling.is_file() else None


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # inputs, targets, loss mask (None = all)


class Run(NamedTuple):
    """Where a solution run reads and writes, and its knobs."""

    data: Path
    output: Path
    weights: Path
    seed: int
    scale: str
    config: dict[str, Any]


def start(config_path: str = "config.json") -> Run:
    """Read ``config.json`` and the ``RSI_*`` variables; seed torch; set the thread count."""
    config = json.loads(Path(config_path).read_text())
    seed = int(os.environ.get("RSI_SEED", "0"))
    torch.manual_seed(seed)
    torch.set_num_threads(int(config.get("threads", 1)))
    return Run(
        data=Path(os.environ["RSI_DATA_DIR"]),
        output=Path(os.environ["RSI_OUTPUT_DIR"]),
        weights=Path(os.environ.get("RSI_WEIGHTS_DIR", "../../weights")),
        seed=seed,
        scale=os.environ.get("RSI_SCALE", "ci"),
        config=config,
    )


def at_scale(config: dict[str, Any], key: str, scale: str) -> Any:
    """``config[key]``, or ``config[key + "_full"]`` at ``scale="full"`` when that is set."""
    return config.get(f"{key}_full", config[key]) if scale == "full" else config[key]


def resolve(path: str, run: Run) -> Path:
    """A checkpoint named in config.json: ``weights/...`` (the workspace's weights) or ``data/...`` (task data)."""
    head, _, rest = path.partition("/")
    roots = {"weights": run.weights, "data": run.data}
    if head not in roots or not rest:
        raise ValueError(f"init {path!r} must start with 'weights/' or 'data/'")
    return roots[head] / rest


def make_model(run: Run, vocab_size: int, context: int) -> GPT:
    """The model config.json asks for, optionally initialised from the checkpoint named by ``init``.

    With ``init`` set the architecture is the one that checkpoint declares (its metadata or a
    sibling ``.json``); a checkpoint declaring none (e.g. a merge output) uses config.json's sizes.
    """
    config = run.config
    init = resolve(config["init"], run) if config.get("init") else None
    arch = declared_config(init) if init is not None else None
    if arch is None:
        width = config["d_model"]
        arch = GPTConfig(
            vocab_size=vocab_size,
            context=context,
            d_model=width,
            n_layers=config["n_layers"],
            n_heads=config["n_heads"],
            d_ff=config.get("d_ff", 4 * width),
            tie_embeddings=config.get("tie_embeddings", True),
        )
    model = GPT(arch)
    if init is not None:
        model.load_state_dict({k: v.float() for k, v in load_file(str(init)).items()})
        print(f"initialised from {config['init']}")
    return model


def token_loss(model: GPT, batch: Batch) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) over the positions the mask keeps."""
    inputs, targets, mask = batch
    logits = model(inputs)
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    if mask is None:
        return losses.mean()
    mask = mask.reshape(-1).float()
    return (losses * mask).sum() / mask.sum().clamp_min(1.0)


def train(
    model: GPT,
    next_batch: Callable[[], Batch],
    steps: int,
    lr: float,
    warmup: int = 20,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    log_every: int = 100,
) -> None:
    """AdamW with linear warm-up and cosine decay to a tenth of ``lr``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    model.train()
    started = time.monotonic()
    for step in range(steps):
        progress = step / max(1, steps)
        scale = min(1.0, (step + 1) / max(1, warmup)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        loss = token_loss(model, next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps}  loss {loss.item():.4f}  {time.monotonic() - started:.1f}s", flush=True)
    model.eval()


@torch.no_grad()
def mean_bits(model: GPT, batches: list[Batch]) -> float:
    """Mean cross-entropy in bits per scored token over ``batches``."""
    total = count = 0.0
    for inputs, targets, mask in batches:
        logits = model(inputs)
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        keep = torch.ones_like(losses) if mask is None else mask.reshape(-1).float()
        total += float((losses * keep).sum())
        count += float(keep.sum())
    return total / max(count, 1.0) / math.log(2)


def save(model: GPT, run: Run) -> None:
    """Write the checkpoint the grader reads: ``model.safetensors`` and ``config.json`` in ``RSI_OUTPUT_DIR``."""
    save_checkpoint(model, run.output)
    print(f"saved {model.config.n_params():,}-parameter model to $RSI_OUTPUT_DIR")
