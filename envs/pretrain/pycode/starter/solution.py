"""Starter for pycode: a byte-level transformer trained on standard-library sources.

The knobs are in config.json; the model and training loop are in lib/lmkit.py, shared with the
other language-model tasks. The grader reads $RSI_OUTPUT_DIR/model.safetensors + config.json
and scores bits per byte on held-out files with sliding windows of the model's context.
"""
import json

import numpy as np
import torch

import lmkit

run = lmkit.start()
config = run.config
meta = json.loads((run.data / "meta.json").read_text())
train = torch.from_numpy(np.fromfile(run.data / "train.bin", dtype=np.uint8).astype(np.int64))
context, batch_size = config["context"], config["batch_size"]
generator = torch.Generator().manual_seed(run.seed)


def next_batch():
    starts = torch.randint(0, len(train) - context - 1, (batch_size,), generator=generator)
    window = torch.stack([train[s : s + context + 1] for s in starts.tolist()])
    return window[:, :-1], window[:, 1:], None


model = lmkit.make_model(run, meta["vocab_size"], context)
lmkit.train(model, next_batch, lmkit.at_scale(config, "steps", run.scale), config["lr"], warmup=config["warmup"],
            weight_decay=config["weight_decay"])
valid = torch.from_numpy(np.fromfile(run.data / "valid.bin", dtype=np.uint8).astype(np.int64))
rows = len(valid) // (context + 1)
windows = valid[: rows * (context + 1)].view(rows, context + 1)[:256]
print(f"validation: {lmkit.mean_bits(model, [(windows[:, :-1], windows[:, 1:], None)]):.4f} bits/byte")
lmkit.save(model, run)
