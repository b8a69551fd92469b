"""Starter for addition: post-train the base model to answer ';a+b=' with 'a+b;'.

Supervised fine-tuning on worked problems: the given train.jsonl, or fresh synthetic ones
with "data": "synthetic" in config.json. Anything else that ends in a checkpoint of the same
architecture works too (RL with a verifiable reward, self-training, a merge of checkpoints in
weights/). The model and training loop are in lib/lmkit.py. The grader reads
$RSI_OUTPUT_DIR/model.safetensors + config.json and decodes greedily.
"""
import json

import numpy as np
import torch

import lmkit

run = lmkit.start()
config = run.config
meta = json.loads((run.data / "meta.json").read_text())
alphabet = meta["alphabet"]
token = {char: i for i, char in enumerate(alphabet)}
sep = token[";"]
rng = np.random.default_rng(run.seed)
worked = [json.loads(line) for line in (run.data / "train.jsonl").read_text().splitlines()]


def random_problems(n):
    """Fresh problems in the task's format, with their exact answers."""
    digits = rng.integers(1, meta["max_digits"] + 1, size=(n, 2))
    operands = rng.integers(np.where(digits == 1, 0, 10 ** (digits - 1)), 10**digits)
    return [{"prompt": f";{a}+{b}=", "answer": f"{a + b};"} for a, b in operands.tolist()]


def problems(n):
    if config["data"] == "synthetic":
        return random_problems(n)
    return [worked[i] for i in rng.integers(len(worked), size=n)]


def sft_batch(examples):
    """Sequences prompt+answer padded with ';'; the loss covers the answer tokens only."""
    texts = [[token[c] for c in e["prompt"] + e["answer"]] for e in examples]
    length = max(map(len, texts))
    window = torch.full((len(texts), length), sep)
    mask = torch.zeros((len(texts), length), dtype=torch.bool)
    for row, (text, example) in enumerate(zip(texts, examples)):
        window[row, : len(text)] = torch.tensor(text)
        mask[row, len(example["prompt"]) : len(text)] = True
    return window[:, :-1], window[:, 1:], mask[:, 1:]


model = lmkit.make_model(run, meta["vocab_size"], meta["min_context"])
steps = lmkit.at_scale(config, "steps", run.scale)
lmkit.train(model, lambda: sft_batch(problems(config["batch_size"])), steps, config["lr"], warmup=config["warmup"],
            weight_decay=config["weight_decay"])
lmkit.save(model, run)
