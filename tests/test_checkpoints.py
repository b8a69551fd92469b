"""The restricted checkpoint path: trusted architecture, caps before allocation, no unpickling."""
from __future__ import annotations

import importlib.util
import io
import json
import pickle
import struct
import sys
from pathlib import Path

import pytest
import torch

from rsigym.checkpoints import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Caps,
    CheckpointError,
    GPTConfig,
    build_model,
    declared_config,
    load_checkpoint,
    load_weights,
    parse_config,
    save_checkpoint,
)
from rsigym.merging import merge_checkpoints

LMKIT = Path(__file__).resolve().parents[1] / "envs" / "lm" / "lib" / "lmkit.py"
SMALL = GPTConfig(vocab_size=17, context=16, d_model=32, n_layers=2, n_heads=4, d_ff=64)
ROOMY = Caps(max_params=10**6)


def lmkit():
    """The solution-side library (workspace lib/), loaded the way a solution sees it: as a plain module."""
    spec = importlib.util.spec_from_file_location("lmkit", LMKIT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["lmkit"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["lmkit"]
    return module


def saved(tmp_path: Path, config: GPTConfig = SMALL, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    save_checkpoint(build_model(config), tmp_path)
    return tmp_path


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("layers", [1, 3])
def test_parameter_count_from_config_matches_the_built_model(tie, layers):
    config = GPTConfig(vocab_size=50, context=24, d_model=48, n_layers=layers, n_heads=6, d_ff=100, tie_embeddings=tie)
    assert config.n_params() == sum(p.numel() for p in build_model(config).parameters())


def test_round_trip_gives_identical_logits(tmp_path):
    torch.manual_seed(1)
    model = build_model(SMALL).eval()
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path, ROOMY)
    tokens = torch.randint(0, 17, (3, 16))
    assert torch.equal(model(tokens), loaded(tokens))
    assert declared_config(tmp_path / WEIGHTS_FILE) == SMALL


def test_the_solution_library_builds_the_same_network_as_the_trusted_code(tmp_path):
    kit = lmkit()
    for tie in (True, False):
        fields = dict(vocab_size=17, context=16, d_model=32, n_layers=2, n_heads=4, d_ff=64, tie_embeddings=tie)
        torch.manual_seed(2)
        theirs = kit.GPT(kit.GPTConfig(**fields)).eval()
        kit.save_checkpoint(theirs, tmp_path)
        ours = load_checkpoint(tmp_path, ROOMY)
        assert ours.config == GPTConfig(**fields)
        assert theirs.config.n_params() == ours.config.n_params()
        tokens = torch.randint(0, 17, (2, 16))
        torch.testing.assert_close(theirs(tokens), ours(tokens))


def test_parameter_cap_is_refused_before_anything_is_allocated(tmp_path):
    huge = dict(SMALL.__dict__, d_model=8192, n_layers=128, n_heads=8, d_ff=32768)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(huge))
    (tmp_path / WEIGHTS_FILE).write_bytes(b"never read")
    with pytest.raises(CheckpointError, match=r"parameters, above this task's cap of 1,000,000"):
        load_checkpoint(tmp_path, ROOMY)


def test_a_checkpoint_just_over_the_cap_is_refused(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match="above this task's cap"):
        load_checkpoint(tmp_path, Caps(max_params=SMALL.n_params() - 1))
    assert load_checkpoint(tmp_path, Caps(max_params=SMALL.n_params())) is not None


class _Trap:
    """Unpickling this object would create a marker file: proof that the loader ran pickle code."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_pickled_weights_are_refused_without_being_unpickled(tmp_path, writer):
    checkpoint = saved(tmp_path / "ckpt")
    marker = tmp_path / "pickle-code-ran"
    trap = _Trap()
    trap.marker = marker
    payload = {"tok.weight": torch.zeros(17, 32), "trap": trap}
    target = checkpoint / WEIGHTS_FILE
    if writer == "torch.save":
        torch.save(payload, target)
        expected = "zip archive"
    else:
        target.write_bytes(pickle.dumps(payload, protocol=4))
        expected = "pickle"
    with pytest.raises(CheckpointError, match=expected) as refused:
        load_checkpoint(checkpoint, ROOMY)
    assert "never unpickles" in str(refused.value)
    assert not marker.exists()
    # control: the payload is live, so a loader that unpickled it would have left the marker
    if writer == "torch.save":
        torch.load(io.BytesIO(target.read_bytes()), weights_only=False)
    else:
        pickle.loads(target.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "config, message",
    [
        ({**SMALL.__dict__, "d_model": "64"}, "d_model must be an integer"),
        ({**SMALL.__dict__, "n_layers": True}, "n_layers must be an integer"),
        ({**SMALL.__dict__, "n_heads": 5}, "not divisible by n_heads"),
        ({**SMALL.__dict__, "context": 0}, "context=0 is outside"),
        ({**SMALL.__dict__, "__reduce__": "os.system"}, "unknown keys"),
        ({**SMALL.__dict__, "arch": "lstm"}, "unknown architecture 'lstm'"),
        ({k: v for k, v in SMALL.__dict__.items() if k != "d_ff"}, "d_ff is missing"),
        ([1, 2, 3], "unknown architecture"),
    ],
)
def test_malformed_configs_are_refused_with_the_reason(config, message):
    with pytest.raises(CheckpointError, match=message):
        parse_config(config)


def test_missing_files_name_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(tmp_path, ROOMY)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(SMALL.to_dict()))
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_checkpoint(tmp_path, ROOMY)
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path, ROOMY)


@pytest.mark.parametrize("name", [WEIGHTS_FILE, CONFIG_FILE])
def test_symbolic_links_are_refused(tmp_path, name):
    checkpoint = saved(tmp_path / "ckpt")
    elsewhere = tmp_path / "elsewhere"
    (checkpoint / name).rename(elsewhere)
    (checkpoint / name).symlink_to(elsewhere)
    with pytest.raises(CheckpointError, match=f"{name} is a symbolic link"):
        load_checkpoint(checkpoint, ROOMY)


def test_truncated_and_foreign_weight_files_are_refused(tmp_path):
    checkpoint = saved(tmp_path)
    weights = checkpoint / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(checkpoint, ROOMY)
    weights.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(CheckpointError, match="bad header length"):
        load_checkpoint(checkpoint, ROOMY)


def test_tensors_must_match_the_declared_architecture(tmp_path):
    checkpoint = saved(tmp_path)
    wider = GPTConfig(**{**SMALL.__dict__, "d_model": 64, "d_ff": 128})
    (checkpoint / CONFIG_FILE).write_text(json.dumps(wider.to_dict()))
    with pytest.raises(CheckpointError, match="does not match the declared architecture: wrong shapes"):
        load_checkpoint(checkpoint, ROOMY)
    untied = GPTConfig(**{**SMALL.__dict__, "tie_embeddings": False})
    (checkpoint / CONFIG_FILE).write_text(json.dumps(untied.to_dict()))
    with pytest.raises(CheckpointError, match=r"missing \['head.weight'\]"):
        load_checkpoint(checkpoint, ROOMY)


def test_non_finite_and_integer_tensors_are_refused(tmp_path):
    from safetensors.torch import save_file

    model = build_model(SMALL)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["ln_f.weight"][0] = float("nan")
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    (tmp_path / CONFIG_FILE).write_text(json.dumps(SMALL.to_dict()))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(tmp_path, ROOMY)
    state["ln_f.weight"] = torch.ones(32, dtype=torch.int32)
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="not float32/float16/bfloat16"):
        load_checkpoint(tmp_path, ROOMY)


def test_vocabulary_and_context_bounds(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match="vocab_size is 17, but this task's tokenizer has 256"):
        load_checkpoint(tmp_path, Caps(max_params=10**6, vocab_size=256))
    with pytest.raises(CheckpointError, match="needs at least 64"):
        load_checkpoint(tmp_path, Caps(max_params=10**6, min_context=64))
    with pytest.raises(CheckpointError, match="above this task's cap of 8"):
        load_checkpoint(tmp_path, Caps(max_params=10**6, max_context=8))


def test_half_precision_weights_load_as_float32(tmp_path):
    torch.manual_seed(3)
    model = build_model(SMALL).half()
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path, ROOMY)
    assert loaded.tok.weight.dtype == torch.float32
    assert torch.equal(loaded.tok.weight, model.tok.weight.float())


def test_a_merge_of_two_checkpoints_loads_and_averages(tmp_path):
    first, second = saved(tmp_path / "a", seed=0), saved(tmp_path / "b", seed=1)
    merged = tmp_path / "weights" / "merged.safetensors"
    merge_checkpoints([first / WEIGHTS_FILE, second / WEIGHTS_FILE], [1.0, 3.0], merged)
    assert declared_config(merged) is None  # the merge keeps tensors only; the architecture comes from elsewhere
    (merged.with_suffix(".json")).write_text(json.dumps(SMALL.to_dict()))
    assert declared_config(merged) == SMALL
    model = build_model(SMALL)
    load_weights(model, merged)
    a = load_checkpoint(first, ROOMY).tok.weight
    b = load_checkpoint(second, ROOMY).tok.weight
    torch.testing.assert_close(model.tok.weight, 0.25 * a + 0.75 * b)
