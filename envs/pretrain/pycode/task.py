"""pretrain/pycode: byte-level language modelling of the Python standard library's own sources.

The corpus is the ``.py`` files of the running interpreter's standard library (tests and
site-packages left out). Training and validation files come from the part a solution can
read anyway, split *by file* with a fixed seed. Test files come only from :data:`TEST_SOURCES`,
standard-library packages that no solution needs and that every confined sandbox hides (the
task's ``leak_sources``; the docker image is built without them): a solution cannot read the
documents it is scored on. The instance secret orders them and halves them into the public and
the private split, which stay with the grader. Files are joined with a NUL byte, which Python
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
from rsigym.envs.lm.grading import CheckpointTask, stream_bits
from rsigym.scales import ScaleConfig, scale_table
from rsigym.tasks import Grade, RunContext

SPLIT_SEED = 20_240_611  # fixed: the public train/validation split is a property of the corpus
VALID_FRACTION = 0.1  # of the readable files (by file)
# Test documents: GUI, 2to3 and network-server code, hidden from the sandbox. Keep in step with
# "leak_sources" in task.json (tests/envs/pretrain/test_pycode.py checks it).
TEST_SOURCES = ("idlelib", "lib2to3", "tkinter", "turtledemo", "turtle.py", "xmlrpc", "wsgiref")
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


SCALE_CONFIGS = scale_table(
    ci=ScaleConfig(Scale(train_bytes=4_000_000, valid_bytes=200_000, test_bytes=64_000, max_params=500_000, max_context=1024),
                   cpu_seconds=90),
    full=ScaleConfig(Scale(train_bytes=None, valid_bytes=1_000_000, test_bytes=500_000, max_params=20_000_000, max_context=4096),
                     cpu_seconds=7200),
)


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


def is_test_source(path: Path, root: Path | None = None) -> bool:
    """True for files under :data:`TEST_SOURCES` (relative to the standard library ``root``)."""
    relative = path.relative_to(Path(root or sysconfig.get_paths()["stdlib"]))
    return relative.parts[0] in TEST_SOURCES


def split_files(files: list[Path], rng: np.random.Generator, root: Path | None = None) -> dict[str, list[Path]]:
    """Split files into train / valid (readable files, :data:`SPLIT_SEED`) and public_test /
    private_test (hidden files, ordered by ``rng``, the instance's secret generator)."""
    readable = [path for path in files if not is_test_source(path, root)]
    hidden = [path for path in files if is_test_source(path, root)]
    order = [readable[i] for i in np.random.default_rng(SPLIT_SEED).permutation(len(readable))]
    n_valid = int(len(order) * VALID_FRACTION)
    test = [hidden[i] for i in rng.permutation(len(hidden))]
    return {
        "train": order[n_valid:],
        "valid": order[:n_valid],
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
        return SCALE_CONFIGS[scale].cpu_seconds

    def caps(self, scale: str) -> Caps:
        sizes = SCALE_CONFIGS[scale].sizes
        return Caps(max_params=sizes.max_params, vocab_size=256, max_context=sizes.max_context)

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        sizes = SCALE_CONFIGS[scale].sizes
        files = stdlib_files()
        if not files:
            raise RuntimeError(f"no standard-library sources found under {sysconfig.get_paths()['stdlib']}")
        splits = split_files(files, self.instance_rng(seed, private_dir))
        tests = {split: join(splits[split], sizes.test_bytes) for split in ("public_test", "private_test")}
        if min(map(len, tests.values())) < sizes.test_bytes:
            raise RuntimeError(f"this Python's standard library lacks the test sources {TEST_SOURCES} "
                               f"needed for {sizes.test_bytes} test bytes per split at scale {scale!r}")
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        train = join(splits["train"], sizes.train_bytes)
        (data_dir / "train.bin").write_bytes(train)
        (data_dir / "valid.bin").write_bytes(join(splits["valid"], sizes.valid_bytes))
        for split, text in tests.items():
            (private_dir / f"{split}.bin").write_bytes(text)
        caps = self.caps(scale)
        meta = {
            "vocab_size": 256,
            "separator": SEPARATOR[0],
            "training_tokens": len(train),
            "train_files": len(splits["train"]),
            "max_params": caps.max_params,
            "max_context": caps.max_context,
            "cpu_budget_s": self.cpu_budget(scale),
            "timeout_s": self.timeout(scale),
            "scale": {**asdict(sizes), "cpu_seconds": self.cpu_budget(scale)},
        }
        (data_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    def score(self, model: GPT, ctx: RunContext) -> Grade:
        bits = {
            split: stream_bits(model, np.frombuffer((ctx.private_dir / f"{split}_test.bin").read_bytes(), dtype=np.uint8))
            for split in ("public", "private")
        }
        return Grade(True, public=bits["public"], private=bits["private"], details={"context": model.config.context})
