"""posttrain/addition: post-train a weak base model to add, graded by exact-match accuracy.

The data folder holds the base model (``base.safetensors`` + ``base.json``, see
:mod:`.base_model`), a small set of worked problems (``train.jsonl``) and ``meta.json``. The
public and private test problems are drawn from the instance secret, disjoint from the worked ones, and
stay with the grader, which decodes greedily with the trusted architecture and checks each
answer exactly.
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rsigym.checkpoints import GPT, Caps
from rsigym.envs.posttrain.addition.base_model import Recipe, base_checkpoint
from rsigym.envs.posttrain.addition.problems import ALPHABET, SEP, decode, encode, unique_problems
from rsigym.envs.lm.grading import CheckpointTask
from rsigym.scales import ScaleConfig, scale_table
from rsigym.tasks import Grade, RunContext


@dataclass(frozen=True)
class AdditionSizes:
    """One instance: its problems and the base model they post-train."""

    train: int  # worked problems in train.jsonl
    test: int  # held-out problems per split (public and private)
    recipe: Recipe  # how the base model is pre-trained


SCALE_CONFIGS = scale_table(
    ci=ScaleConfig(AdditionSizes(train=1000, test=500, recipe=Recipe(
        max_digits=2, error_rate=0.3, d_model=64, n_layers=2, n_heads=4, context=32, steps=1000, batch_size=32, lr=3e-3)),
        cpu_seconds=90),
    full=ScaleConfig(AdditionSizes(train=5000, test=2000, recipe=Recipe(
        max_digits=3, error_rate=0.3, d_model=96, n_layers=3, n_heads=4, context=48, steps=6000, batch_size=64, lr=2e-3)),
        cpu_seconds=7200),
)
PARAM_FACTOR = 2  # a post-trained model may be up to twice the base model's size


def prompt(a: int, b: int) -> str:
    return f";{a}+{b}="


def longest_text(max_digits: int) -> int:
    """Tokens in the longest prompt plus its answer and end mark."""
    return len(prompt(10**max_digits - 1, 10**max_digits - 1)) + max_digits + 2


@torch.no_grad()
def greedy_answers(model: GPT, problems: list[tuple[int, int]], max_new: int) -> list[str]:
    """The model's greedy answer to each problem: generated text up to the first ``;``."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, (a, b) in enumerate(problems):
        by_length[len(prompt(a, b))].append(index)
    answers = [""] * len(problems)
    for indices in by_length.values():
        tokens = torch.tensor([encode(prompt(*problems[i])) for i in indices])
        for _ in range(max_new):
            tokens = torch.cat([tokens, model(tokens)[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
        for row, index in enumerate(indices):
            generated = tokens[row, -max_new:].tolist()
            answers[index] = decode(generated[: generated.index(SEP)] if SEP in generated else generated)
    return answers


def accuracy(model: GPT, problems: list[tuple[int, int]], max_digits: int) -> float:
    answers = greedy_answers(model, problems, max_new=max_digits + 2)
    return sum(answer == str(a + b) for answer, (a, b) in zip(answers, problems)) / len(problems)


class AdditionTask(CheckpointTask):
    """Accuracy on held-out additions after post-training the cached base model."""

    def cpu_budget(self, scale: str) -> int:
        return SCALE_CONFIGS[scale].cpu_seconds

    def caps(self, scale: str) -> Caps:
        recipe = SCALE_CONFIGS[scale].sizes.recipe
        return Caps(max_params=PARAM_FACTOR * recipe.architecture().n_params(), vocab_size=len(ALPHABET),
                    min_context=longest_text(recipe.max_digits), max_context=recipe.context * 4)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        sizes = SCALE_CONFIGS[scale].sizes
        recipe = sizes.recipe
        base = base_checkpoint(recipe, scale)
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / "model.safetensors", data_dir / "base.safetensors")
        shutil.copyfile(base / "config.json", data_dir / "base.json")
        rng = self.instance_rng(seed, private_dir)
        seen: set[tuple[int, int]] = set()
        worked = unique_problems(rng, sizes.train, recipe.max_digits, seen)
        with (data_dir / "train.jsonl").open("w") as handle:
            for a, b in worked:
                handle.write(json.dumps({"prompt": prompt(a, b), "answer": f"{a + b};"}) + "\n")
        for split in ("public", "private"):
            problems = unique_problems(rng, sizes.test, recipe.max_digits, seen)
            (private_dir / f"{split}_test.json").write_text(json.dumps(problems))
        caps = self.caps(scale)
        meta = {
            "alphabet": ALPHABET,
            "vocab_size": len(ALPHABET),
            "max_digits": recipe.max_digits,
            "format": "prompt ';a+b=' -> answer 'c;' (decimal sum, then ';'); graded by greedy decoding, exact match",
            "max_new_tokens": recipe.max_digits + 2,
            "max_params": caps.max_params,
            "min_context": caps.min_context,
            "max_context": caps.max_context,
            "cpu_budget_s": self.cpu_budget(scale),
            "timeout_s": self.timeout(scale),
        }
        (data_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    def score(self, model: GPT, ctx: RunContext) -> Grade:
        max_digits = SCALE_CONFIGS[ctx.scale].sizes.recipe.max_digits
        scores = {
            split: accuracy(model, [tuple(p) for p in json.loads((ctx.private_dir / f"{split}_test.json").read_text())], max_digits)
            for split in ("public", "private")
        }
        return Grade(True, public=scores["public"], private=scores["private"])
