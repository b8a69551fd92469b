"""pretrain/pycode: byte-level language modelling of the Python standard library's own sources.

The corpus is the ``.py`` files of the running interpreter's standard library (tests and
site-packages left out), split *by file* into train / validation / test with a fixed seed, so
the split never depends on the episode seed. Test files are halved into the public and the
private split, which stay with the grader. Files are joined with a NUL byte, which Python
source never contains, so a model can tell where one file ends.
"""
from __future__ import annotations

import json
import os
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rsigym.checkpoints import GPT, Caps
from rsigym.envs.pretrain.grading import CheckpointTask, stream_bits
from rsigym.tasks import Grade, RunContext

SPLIT_SEED = 20_240_611  # fixed: the split is a property of the corpus, not of the episode
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, validation, test (by file)
SEPARATOR = b"\x00"
SKIPPED_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idle_test"}
MAX_FILE_BYTES = 300_000  # a few generated data tables (e.g. pydoc topics) are not code


@dataclass(frozen=True)
class Scale:
    """How much of each split an instance uses (bytes; ``None`` = all) and the model caps."""

    train_bytes: int | None
    valid_bytes: int
    test_bytes: int  # per split (public and private)
    max_params: int
    max_context: int
    cpu_seconds: int  # compute budget of one solution run


SCALES = {
    "ci": Scale(train_bytes=4_000_000, valid_bytes=200_000, test_bytes=64_000, max_params=500_000, max_context=1024, cpu_seconds=90),
    "full": Scale(train_bytes=None, valid_bytes=1_000_000, test_bytes=1_000_000, max_params=20_000_000, max_context=4096, cpu_seconds=7200),
}


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The standard library's ``.py`` files, sorted by relative path, tests and site-packages left out."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS]  # prune, do not descend
        for name in names:
            path = Path(folder) / name
            if name.endswith(".py") and path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def split_files(files: list[Path]) -> dict[str, list[Path]]:
    """Split files into train / valid / public_test / private_test with :data:`SPLIT_SEED`."""
    order = [files[i] for i in np.random.default_rng(SPLIT_SEED).permutation(len(files))]
    n_train = int(len(order) * SPLIT_FRACTIONS[0])
    n_valid = int(len(order) * SPLIT_FRACTIONS[1])
    test = order[n_train + n_valid :]
    return {
        "train": order[:n_train],
        "valid": order[n_train : n_train + n_valid],
        "public_test": test[0::2],
        "private_test": test[1::2],
    }


def join(files: list[Path], limit: int | None) -> bytes:
    """Concatenate files (NUL-separated) up to ``limit`` bytes."""
    text = SEPARATOR.join(path.read_bytes() for path in files)
    return text if limit is None else text[:limit]


class PyCodeTask(CheckpointTask):
    """Bits per byte on held-out standard-library files; the reference is a recorded strong run."""

    def cpu_budget(self, scale: str) -> int:
        return SCALES[scale].cpu_seconds

    def caps(self, scale: str) -> Caps:
        sizes = SCALES[scale]
        return Caps(max_params=sizes.max_params, vocab_size=256, max_context=sizes.max_context)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        sizes = SCALES[scale]
        files = stdlib_files()
        if not files:
            raise RuntimeError(f"no standard-library sources found under {sysconfig.get_paths()['stdlib']}")
        splits = split_files(files)
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        train = join(splits["train"], sizes.train_bytes)
        (data_dir / "train.bin").write_bytes(train)
        (data_dir / "valid.bin").write_bytes(join(splits["valid"], sizes.valid_bytes))
        for split in ("public_test", "private_test"):
            (private_dir / f"{split}.bin").write_bytes(join(splits[split], sizes.test_bytes))
        caps = self.caps(scale)
        meta = {
            "vocab_size": 256,
            "separator": SEPARATOR[0],
            "training_tokens": len(train),
            "train_files": len(splits["train"]),
            "max_params": caps.max_params,
            "max_context": caps.max_context,
            "cpu_budget_s": sizes.cpu_seconds,
            "timeout_s": self.timeout(scale),
            "scale": asdict(sizes),
        }
        (data_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    def score(self, model: GPT, ctx: RunContext) -> Grade:
        bits = {
            split: stream_bits(model, np.frombuffer((ctx.private_dir / f"{split}_test.bin").read_bytes(), dtype=np.uint8))
            for split in ("public", "private")
        }
        return Grade(True, public=bits["public"], private=bits["private"], details={"context": model.config.context})
