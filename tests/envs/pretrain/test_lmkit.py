"""lib/lmkit.py, the solutions' library: starting from earlier checkpoints, and a short real run."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from rsigym.checkpoints import GPTConfig, build_model, save_checkpoint
from rsigym.envs.pretrain import SUITE_DIR
from rsigym.envs.lm.calibrate import score_config
from rsigym.envs.lm.grading import LIB_DIR
from rsigym.envs.pretrain.synthlang.task import SynthLangTask
from rsigym.merging import merge_checkpoints

ARCH = GPTConfig(vocab_size=17, context=64, d_model=32, n_layers=1, n_heads=4, d_ff=64)


@pytest.fixture(scope="module")
def lmkit():
    spec = importlib.util.spec_from_file_location("lmkit", LIB_DIR / "lmkit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["lmkit"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules["lmkit"]


def run_for(lmkit, tmp_path: Path, config: dict):
    return lmkit.Run(tmp_path / "data", tmp_path / "out", tmp_path / "weights", 0, "ci", config)


def test_init_takes_the_architecture_the_checkpoint_declares(lmkit, tmp_path):
    torch.manual_seed(0)
    earlier = build_model(ARCH)
    save_checkpoint(earlier, tmp_path / "weights", name="earlier")
    run = run_for(lmkit, tmp_path, {"init": "weights/earlier.safetensors", "d_model": 64, "n_layers": 2, "n_heads": 4})
    model = lmkit.make_model(run, vocab_size=17, context=64)
    assert model.config.d_model == 32
    assert torch.equal(model.tok.weight, earlier.tok.weight)


def test_a_merge_output_without_metadata_uses_the_sizes_in_config(lmkit, tmp_path):
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_checkpoint(build_model(ARCH), tmp_path / "weights", name=f"m{seed}")
    merge_checkpoints([tmp_path / "weights" / "m0.safetensors", tmp_path / "weights" / "m1.safetensors"], None,
                      tmp_path / "weights" / "avg.safetensors")
    config = {"init": "weights/avg.safetensors", "d_model": 32, "n_layers": 1, "n_heads": 4, "d_ff": 64}
    model = lmkit.make_model(run_for(lmkit, tmp_path, config), vocab_size=17, context=64)
    assert model.config.n_params() == ARCH.n_params()


def test_init_outside_weights_and_data_is_refused(lmkit, tmp_path):
    with pytest.raises(ValueError, match="must start with 'weights/' or 'data/'"):
        lmkit.resolve("/etc/passwd", run_for(lmkit, tmp_path, {}))


def test_a_short_synthlang_run_from_an_earlier_checkpoint_is_graded(tmp_path):
    task = SynthLangTask(SUITE_DIR / "synthlang")
    torch.manual_seed(0)
    save_checkpoint(build_model(ARCH), tmp_path, name="earlier")
    config = dict(task.starter_config(), steps=3, init="weights/earlier.safetensors")
    result = score_config(task, config, seed=0, weights={"earlier.safetensors": tmp_path / "earlier.safetensors"})
    assert result.grade.valid, result.grade.error
    assert "initialised from weights/earlier.safetensors" in result.log_tail
    assert result.grade.details["params"] == ARCH.n_params()
    assert 1.0 < result.grade.public < 4.0  # three steps from a random model: far above the floor, but finite
    assert json.loads(json.dumps(result.grade.details))["entropy_floor_bits"] > 0
