"""pycode: the corpus split, the sliding-window scorer and the grader."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rsigym.checkpoints import GPTConfig, build_model, save_checkpoint
from rsigym.envs.pretrain import SUITE_DIR
from rsigym.envs.lm.grading import stream_bits
from rsigym.envs.pretrain.pycode.task import SCALE_CONFIGS, SEPARATOR, TEST_SOURCES, PyCodeTask, is_test_source, split_files, stdlib_files
from rsigym.sandbox import ExecResult
from rsigym.tasks import RunContext


def test_the_split_is_by_file_disjoint_and_tests_come_from_hidden_sources_only():
    files = stdlib_files()
    assert len(files) > 300
    assert not any(part in ("test", "tests", "site-packages") for path in files for part in path.parts[-3:-1])
    splits = split_files(files, np.random.default_rng(1))
    assert split_files(files, np.random.default_rng(1)) == splits
    assert split_files(files, np.random.default_rng(2)) != splits  # the instance secret orders the tests
    assert sum(map(len, splits.values())) == len(files)
    assert len(set().union(*map(set, splits.values()))) == len(files)
    assert all(is_test_source(path) for split in ("public_test", "private_test") for path in splits[split])
    assert not any(is_test_source(path) for split in ("train", "valid") for path in splits[split])
    assert abs(len(splits["public_test"]) - len(splits["private_test"])) <= 1


def test_the_hidden_test_sources_are_declared_leak_sources():
    spec = json.loads((SUITE_DIR / "pycode" / "task.json").read_text())
    assert sorted(spec["leak_sources"]) == sorted(f"stdlib:{name}" for name in TEST_SOURCES)


def test_python_sources_never_contain_the_separator():
    assert not any(SEPARATOR in path.read_bytes() for path in stdlib_files()[:200])


def context_free_model(context: int) -> torch.nn.Module:
    """A transformer whose prediction depends on the current byte only: blocks and positions zeroed."""
    torch.manual_seed(0)
    model = build_model(GPTConfig(vocab_size=256, context=context, d_model=16, n_layers=1, n_heads=2, d_ff=32)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("blocks") or name == "pos.weight":
                parameter.zero_()
    return model


@pytest.mark.parametrize("length", [5, 64, 1000, 1001])
def test_every_byte_is_scored_exactly_once(length):
    model = context_free_model(context=32)
    stream = np.random.default_rng(length).integers(0, 256, size=length, dtype=np.uint8)
    with torch.no_grad():
        table = torch.log_softmax(model.ln_f(model.tok.weight) @ model.tok.weight.T, dim=-1)
    expected = -table[stream[:-1].astype(np.int64), stream[1:].astype(np.int64)].mean().item() / math.log(2)
    assert stream_bits(model, stream, batch=7) == pytest.approx(expected, rel=1e-5)


def test_a_stream_within_the_context_is_scored_in_one_pass():
    torch.manual_seed(1)
    model = build_model(GPTConfig(vocab_size=256, context=64, d_model=32, n_layers=2, n_heads=4, d_ff=64)).eval()
    stream = np.random.default_rng(2).integers(0, 256, size=50, dtype=np.uint8)
    tokens = torch.from_numpy(stream.astype(np.int64))[None]
    with torch.no_grad():
        direct = torch.nn.functional.cross_entropy(model(tokens[:, :-1])[0], tokens[0, 1:]).item() / math.log(2)
    assert stream_bits(model, stream) == pytest.approx(direct, rel=1e-5)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("pycode")
    task = PyCodeTask(SUITE_DIR / "pycode")
    task.prepare(0, "ci", root / "data", root / "private")
    return task, root


def test_prepare_writes_capped_training_text_and_keeps_test_files_private(prepared):
    task, root = prepared
    train = (root / "data" / "train.bin").read_bytes()
    assert len(train) == SCALE_CONFIGS["ci"].sizes.train_bytes
    assert b"def " in train and SEPARATOR in train
    meta = json.loads((root / "data" / "meta.json").read_text())
    assert meta["vocab_size"] == 256 and meta["training_tokens"] == len(train)
    public = (root / "private" / "public_test.bin").read_bytes()
    assert len(public) == SCALE_CONFIGS["ci"].sizes.test_bytes
    assert public[:2000] not in train and public[:2000] not in (root / "data" / "valid.bin").read_bytes()
    assert sorted(p.name for p in (root / "data").iterdir()) == ["meta.json", "train.bin", "valid.bin"]


def test_grading_a_random_model_gives_about_eight_bits(prepared, tmp_path):
    task, root = prepared
    torch.manual_seed(0)
    save_checkpoint(build_model(GPTConfig(vocab_size=256, context=64, d_model=16, n_layers=1, n_heads=2, d_ff=32)), tmp_path)
    ctx = RunContext(task.id, root, root / "data", root / "private", tmp_path, 0, "ci")
    result = task.grade(ctx, ExecResult(0, "", "", 1.0))
    assert result.valid, result.error
    assert 7.9 < result.public < 8.1 and 7.9 < result.private < 8.1  # log2(256) = 8 for a near-uniform model
    assert result.details["params"] == GPTConfig(256, 64, 16, 1, 2, 32).n_params()


def test_the_grader_refuses_a_wrong_vocabulary(prepared, tmp_path):
    task, root = prepared
    save_checkpoint(build_model(GPTConfig(vocab_size=17, context=64, d_model=16, n_layers=1, n_heads=2, d_ff=32)), tmp_path)
    ctx = RunContext(task.id, root, root / "data", root / "private", tmp_path, 0, "ci")
    assert "tokenizer has 256 tokens" in task.grade(ctx, ExecResult(0, "", "", 1.0)).error
