"""The base model of posttrain/addition: pre-trained on a noisy arithmetic "web", deterministically, and cached.

Building it takes tens of CPU seconds, so the checkpoint is cached under ``$RSIGYM_CACHE``
(default ``~/.cache/rsigym``), keyed by the scale and a digest of the recipe (the recipes of the
scales are in the task's scale table, ``SCALE_CONFIGS`` in :mod:`.task`). It does not depend
on the episode seed: every episode post-trains the same base model, and seeds vary the problems
and the solution's run. Bump :data:`BUILDER_VERSION` when this code changes what gets built.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rsigym.checkpoints import GPT, GPTConfig, build_model, save_checkpoint
from rsigym.envs.posttrain.addition.problems import ALPHABET, encode, web_corpus
from rsigym.envs.lm.grading import torch_threads

BUILDER_VERSION = 1
PRETRAIN_SEED = 0


@dataclass(frozen=True)
class Recipe:
    """How the base model is built at one scale."""

    max_digits: int
    error_rate: float  # fraction of corpus sums with a wrong digit
    d_model: int
    n_layers: int
    n_heads: int
    context: int
    steps: int
    batch_size: int
    lr: float

    def architecture(self) -> GPTConfig:
        return GPTConfig(vocab_size=len(ALPHABET), context=self.context, d_model=self.d_model,
                         n_layers=self.n_layers, n_heads=self.n_heads, d_ff=4 * self.d_model)


def cache_root() -> Path:
    return Path(os.environ.get("RSIGYM_CACHE") or Path.home() / ".cache" / "rsigym")


def pretrain(recipe: Recipe, seed: int = PRETRAIN_SEED) -> GPT:
    """Train the base model on random windows of a freshly sampled noisy corpus (global RNG state untouched)."""
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        torch.manual_seed(seed)
        model = build_model(recipe.architecture())
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.98))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.steps, pct_start=0.05)
        lines_per_batch = recipe.batch_size * recipe.context // 4
        for _ in range(recipe.steps):
            tokens = torch.tensor(encode(web_corpus(rng, lines_per_batch, recipe.max_digits, recipe.error_rate)))
            starts = rng.integers(0, len(tokens) - recipe.context - 1, size=recipe.batch_size)
            windows = torch.stack([tokens[s : s + recipe.context + 1] for s in starts.tolist()])
            logits = model(windows[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    return model.eval()


def base_checkpoint(recipe: Recipe, scale: str) -> Path:
    """The folder holding the cached base model of ``recipe``, the recipe of ``scale`` (``model.safetensors`` +
    ``config.json``), built if missing."""
    digest = hashlib.sha256(repr(recipe).encode()).hexdigest()[:10]
    folder = cache_root() / "posttrain-addition" / f"{scale}-v{BUILDER_VERSION}-{digest}"
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    save_checkpoint(pretrain(recipe), staging)
    try:
        staging.rename(folder)  # atomic: a concurrent builder's identical result may already be there
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
