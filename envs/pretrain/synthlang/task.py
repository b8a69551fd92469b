"""pretrain/synthlang: pre-train a language model on a synthetic language whose entropy is known exactly.

The data builder draws a random unifilar automaton (the *target language*, see
:mod:`.language`) and three relatives from the instance secret (not the bare seed, which the
solution sees), and writes a training stream that mixes
clean target documents, related-language documents and an unlabelled crawl (target documents,
corrupted ones and uniform noise). The grader scores a checkpoint's cross-entropy on hidden
target documents; the score is its excess over the exact entropy floor, in bits per symbol.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rsigym.checkpoints import GPT, Caps
from rsigym.envs.lm.grading import CheckpointTask, documents_bits
from rsigym.envs.pretrain.synthlang.language import Automaton, random_automaton, related_automaton
from rsigym.scales import ScaleConfig, scale_table
from rsigym.tasks import Grade, RunContext

RELATED_DISTANCES = (0.25, 0.5, 0.9)  # fraction of states each related language redraws
CRAWL_SHARES = {"target": 0.35, "corrupted": 0.15, "noise": 0.5}
CORRUPTION = 0.3  # probability that a symbol of a corrupted crawl document is replaced at random


@dataclass(frozen=True)
class Scale:
    """Sizes of one task instance. Document counts; every document has ``doc_len`` symbols."""

    n_states: int
    n_symbols: int
    doc_len: int
    curated: int
    related_each: int
    crawl: int
    valid: int
    test: int  # per split (public and private)
    max_params: int
    max_context: int


SCALE_CONFIGS = scale_table(
    ci=ScaleConfig(Scale(n_states=48, n_symbols=16, doc_len=64, curated=300, related_each=400, crawl=2400, valid=200,
                         test=400, max_params=250_000, max_context=1024), cpu_seconds=90),
    full=ScaleConfig(Scale(n_states=96, n_symbols=16, doc_len=128, curated=3000, related_each=4000, crawl=24000,
                           valid=1000, test=2000, max_params=5_000_000, max_context=4096), cpu_seconds=7200),
)


def build_crawl(target: Automaton, n_docs: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """An unlabelled web-like crawl: target documents, corrupted target documents and uniform noise, shuffled."""
    counts = {kind: int(round(share * n_docs)) for kind, share in CRAWL_SHARES.items()}
    counts["noise"] = n_docs - counts["target"] - counts["corrupted"]
    clean = target.sample(counts["target"], length, rng)
    corrupted = target.sample(counts["corrupted"], length, rng)
    replace = rng.random(corrupted.shape) < CORRUPTION
    corrupted[replace] = rng.integers(0, target.n_symbols, size=int(replace.sum()))
    noise = rng.integers(0, target.n_symbols, size=(counts["noise"], length))
    crawl = np.concatenate([clean, corrupted, noise])
    return crawl[rng.permutation(len(crawl))]


class SynthLangTask(CheckpointTask):
    """Cross-entropy on a seeded synthetic language, normalised between the starter and the entropy floor."""

    reference_limit = 0.0  # the score is the excess over the exact entropy, so 0 is the floor

    def cpu_budget(self, scale: str) -> int:
        return SCALE_CONFIGS[scale].cpu_seconds

    def caps(self, scale: str) -> Caps:
        sizes = SCALE_CONFIGS[scale].sizes
        return Caps(max_params=sizes.max_params, vocab_size=sizes.n_symbols + 1, min_context=sizes.doc_len,
                    max_context=sizes.max_context)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        sizes = SCALE_CONFIGS[scale].sizes
        rng = self.instance_rng(seed, private_dir)
        target = random_automaton(rng, sizes.n_states, sizes.n_symbols)
        relatives = [related_automaton(target, rng, distance) for distance in RELATED_DISTANCES]
        length = sizes.doc_len
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        streams = {
            "curated": target.sample(sizes.curated, length, rng),
            "related": np.concatenate([lang.sample(sizes.related_each, length, rng) for lang in relatives]),
            "crawl": build_crawl(target, sizes.crawl, length, rng),
            "valid": target.sample(sizes.valid, length, rng),
        }
        for name, docs in streams.items():
            np.save(data_dir / f"{name}.npy", docs.astype(np.uint8))
        np.save(data_dir / "related_language.npy", np.repeat(np.arange(1, len(relatives) + 1), sizes.related_each).astype(np.uint8))
        training_tokens = sum(streams[name].size for name in ("curated", "related", "crawl"))
        caps = self.caps(scale)
        meta = {
            "n_symbols": sizes.n_symbols,
            "bos": sizes.n_symbols,
            "vocab_size": sizes.n_symbols + 1,
            "doc_len": length,
            "training_tokens": training_tokens,
            "max_params": caps.max_params,
            "min_context": caps.min_context,
            "max_context": caps.max_context,
            "cpu_budget_s": self.cpu_budget(scale),
            "timeout_s": self.timeout(scale),
            "scale": {**asdict(sizes), "cpu_seconds": self.cpu_budget(scale)},
        }
        (data_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        target.save(private_dir / "target.npz")
        for split in ("public", "private"):
            np.save(private_dir / f"{split}_test.npy", target.sample(sizes.test, length, rng).astype(np.uint8))
        floor = {"entropy_bits": target.entropy_bits(length), "doc_len": length}
        (private_dir / "floor.json").write_text(json.dumps(floor) + "\n")

    def score(self, model: GPT, ctx: RunContext) -> Grade:
        floor = json.loads((ctx.private_dir / "floor.json").read_text())["entropy_bits"]
        target = Automaton.load(ctx.private_dir / "target.npz")
        bos = SCALE_CONFIGS[ctx.scale].sizes.n_symbols
        bits, source_bits = {}, {}
        for split in ("public", "private"):
            docs = np.load(ctx.private_dir / f"{split}_test.npy").astype(np.int64)
            bits[split] = documents_bits(model, docs, bos)
            source_bits[split] = float(target.surprisal_bits(docs).mean())
        return Grade(
            True,
            public=bits["public"] - floor,
            private=bits["private"] - floor,
            details={
                "cross_entropy_bits": round(bits["public"], 4),
                "entropy_floor_bits": round(floor, 4),
                "source_bits_on_test": round(source_bits["public"], 4),
            },
        )
