"""Starter for synthlang: pre-train a small transformer on the mixed training stream.

The knobs are in config.json (model size, steps, learning rate, how much of each source to
sample, whether to filter the crawl); the training loop is lib/lmkit.py, shared with the other
language-model tasks. The grader reads $RSI_OUTPUT_DIR/model.safetensors + config.json.
"""
import json

import numpy as np
import torch

import lmkit

run = lmkit.start()
config = run.config
meta = json.loads((run.data / "meta.json").read_text())
rng = np.random.default_rng(run.seed)
pools = {name: np.load(run.data / f"{name}.npy").astype(np.int64) for name in ("curated", "related", "crawl")}


def bigram_logprob(docs, reference, n_symbols, smoothing=0.1):
    """Mean log-probability of each document under a bigram model fitted on ``reference``."""
    counts = np.full((n_symbols, n_symbols), smoothing)
    np.add.at(counts, (reference[:, :-1].ravel(), reference[:, 1:].ravel()), 1.0)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return logp[docs[:, :-1], docs[:, 1:]].mean(axis=1)


if config["filter_crawl"]:
    # keep crawl documents that look at least as likely as the worst few curated ones
    threshold = np.percentile(bigram_logprob(pools["curated"], pools["curated"], meta["n_symbols"]), config["filter_percentile"])
    keep = bigram_logprob(pools["crawl"], pools["curated"], meta["n_symbols"]) >= threshold
    print(f"crawl filter keeps {keep.sum()} of {len(keep)} documents")
    pools["crawl"] = pools["crawl"][keep]

names = [name for name in pools if config[f"mix_{name}"] > 0 and len(pools[name])]
mixture = np.array([config[f"mix_{name}"] for name in names], dtype=float)
mixture /= mixture.sum()
bos = meta["bos"]
batch_size = config["batch_size"]


def next_batch():
    source = rng.choice(len(names), size=batch_size, p=mixture)
    docs = np.stack([pools[names[s]][rng.integers(len(pools[names[s]]))] for s in source])
    targets = torch.from_numpy(docs)
    inputs = torch.cat([torch.full((batch_size, 1), bos), targets[:, :-1]], dim=1)
    return inputs, targets, None


model = lmkit.make_model(run, meta["vocab_size"], meta["doc_len"])
lmkit.train(model, next_batch, lmkit.at_scale(config, "steps", run.scale), config["lr"], warmup=config["warmup"],
            weight_decay=config["weight_decay"])
valid = torch.from_numpy(np.load(run.data / "valid.npy").astype(np.int64))
valid_inputs = torch.cat([torch.full((len(valid), 1), bos), valid[:, :-1]], dim=1)
print(f"validation: {lmkit.mean_bits(model, [(valid_inputs, valid, None)]):.4f} bits/symbol")
lmkit.save(model, run)
