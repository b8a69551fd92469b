"""addition: problems, the cached base model, greedy decoding and the grader."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from rsigym.checkpoints import build_model, load_checkpoint, save_checkpoint
from rsigym.envs.posttrain import SUITE_DIR
from rsigym.envs.posttrain.addition import task as addition_task
from rsigym.envs.posttrain.addition.base_model import Recipe, base_checkpoint, pretrain
from rsigym.envs.posttrain.addition.problems import SEP, decode, encode, sample_operands, unique_problems, web_corpus
from rsigym.envs.posttrain.addition.task import AdditionTask, greedy_answers, prompt
from rsigym.sandbox import ExecResult
from rsigym.tasks import RunContext

TINY = Recipe(max_digits=2, error_rate=0.3, d_model=16, n_layers=1, n_heads=2, context=32, steps=3, batch_size=4, lr=1e-3)


def test_operand_digit_counts_are_uniform():
    operands = sample_operands(np.random.default_rng(0), 20_000, max_digits=3)
    digits = np.char.str_len(operands.astype(str))
    assert operands.min() >= 0 and operands.max() < 1000
    assert np.allclose(np.bincount(digits.ravel())[1:] / digits.size, 1 / 3, atol=0.02)


def test_problems_are_unique_and_avoid_the_excluded_ones():
    seen: set[tuple[int, int]] = set()
    first = unique_problems(np.random.default_rng(1), 3000, 2, seen)
    second = unique_problems(np.random.default_rng(2), 3000, 2, seen)
    assert len(set(first)) == 3000 and len(set(second)) == 3000
    assert not set(first) & set(second)


def test_the_web_corpus_has_the_stated_error_rate():
    lines = web_corpus(np.random.default_rng(3), 5000, 2, error_rate=0.3).strip(";").split(";")
    wrong = [int(a) + int(b) != int(c) for a, b, c in (line.replace("=", "+").split("+") for line in lines)]
    assert np.mean(wrong) == pytest.approx(0.3, abs=0.02)


def test_batched_greedy_decoding_matches_one_problem_at_a_time():
    torch.manual_seed(0)
    model = build_model(TINY.architecture()).eval()
    problems = [(3, 4), (12, 7), (99, 99), (5, 60), (0, 0)]
    batched = greedy_answers(model, problems, max_new=4)
    for (a, b), answer in zip(problems, batched):
        tokens = encode(prompt(a, b))
        for _ in range(4):
            with torch.no_grad():
                tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
        generated = tokens[-4:]
        assert answer == decode(generated[: generated.index(SEP)] if SEP in generated else generated)


def test_pretraining_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, second = pretrain(TINY), pretrain(TINY)
    assert torch.rand(1) == expected_next
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.fixture
def tiny_base(tmp_path, monkeypatch):
    """A three-step base model in a private cache, so these tests build in a second."""
    monkeypatch.setenv("RSIGYM_CACHE", str(tmp_path / "cache"))
    ci = addition_task.SCALE_CONFIGS["ci"]
    monkeypatch.setitem(addition_task.SCALE_CONFIGS, "ci", dataclasses.replace(ci, sizes=dataclasses.replace(ci.sizes, recipe=TINY)))
    return tmp_path


def test_the_base_model_is_built_once_and_cached(tiny_base):
    folder = base_checkpoint(TINY, "ci")
    assert folder.is_relative_to(tiny_base / "cache")
    built = (folder / "model.safetensors").stat().st_mtime_ns
    assert base_checkpoint(TINY, "ci") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == built
    assert load_checkpoint(folder, AdditionTask(SUITE_DIR / "addition").caps("ci")).config == TINY.architecture()


def prepared(root):
    task = AdditionTask(SUITE_DIR / "addition")
    task.prepare(5, "ci", root / "data", root / "private")
    return task, RunContext(task.id, root, root / "data", root / "private", root / "out", 5, "ci")


def test_prepare_hands_out_the_base_model_and_keeps_test_problems_apart(tiny_base):
    task, ctx = prepared(tiny_base)
    worked = [json.loads(line) for line in (ctx.data_dir / "train.jsonl").read_text().splitlines()]
    assert all(int(w["answer"][:-1]) == sum(map(int, w["prompt"][1:-1].split("+"))) for w in worked)
    public = {tuple(p) for p in json.loads((ctx.private_dir / "public_test.json").read_text())}
    private = {tuple(p) for p in json.loads((ctx.private_dir / "private_test.json").read_text())}
    worked_pairs = {tuple(map(int, w["prompt"][1:-1].split("+"))) for w in worked}
    assert len(public) == len(private) == 500 and len(worked_pairs) == 1000
    assert not (public & private) and not (worked_pairs & (public | private))
    assert (ctx.data_dir / "base.safetensors").is_file()
    assert json.loads((ctx.data_dir / "base.json").read_text())["d_model"] == TINY.d_model


def test_the_grader_scores_the_base_model_and_refuses_one_twice_as_big(tiny_base):
    task, ctx = prepared(tiny_base)
    ctx.output_dir.mkdir()
    for name in ("safetensors", "json"):
        (ctx.output_dir / ("model.safetensors" if name == "safetensors" else "config.json")).write_bytes(
            (ctx.data_dir / f"base.{name}").read_bytes())
    result = task.grade(ctx, ExecResult(0, "", "", 1.0))
    assert result.valid, result.error
    assert 0.0 <= result.public <= 0.05  # three steps of pre-training cannot add
    wider = build_model(TINY.architecture().__class__(**{**TINY.architecture().to_dict(), "d_model": 24, "d_ff": 96}))
    save_checkpoint(wider, ctx.output_dir)
    refused = task.grade(ctx, ExecResult(0, "", "", 1.0))
    assert not refused.valid and "above this task's cap" in refused.error


@pytest.mark.slow
def test_a_weight_edit_through_the_environment(tmp_path):
    """Train two checkpoints with run ops, merge them, and start the solution from the average."""
    import gymnasium as gym

    import rsigym  # noqa: F401  (registers the env ids)
    env = gym.make("RSI-MLE-v0", suite="posttrain", iterations=3, run_dir=tmp_path / "run").unwrapped
    _, info = env.reset(seed=0)
    assert env.result.results["addition"].grade.valid
    short = dict(AdditionTask(SUITE_DIR / "addition").starter_config(), steps=20)
    train = ("cd tasks/addition && RSI_DATA_DIR=$RSI_DATA_ROOT/addition RSI_OUTPUT_DIR=../../weights/{0} "
             "RSI_WEIGHTS_DIR=../../weights RSI_SEED={1} python solution.py")
    ops = [
        {"op": "write", "path": "tasks/addition/config.json", "content": json.dumps(short)},
        {"op": "run", "cmd": train.format("a", 1), "keep": ["weights/a"], "timeout": 200},
        {"op": "run", "cmd": train.format("b", 2), "keep": ["weights/b"], "timeout": 200},
        {"op": "merge", "inputs": ["weights/a/model.safetensors", "weights/b/model.safetensors"], "out": "weights/avg.safetensors"},
        {"op": "run", "cmd": "cp weights/a/config.json weights/avg.json", "keep": ["weights/avg.json"]},
        {"op": "write", "path": "tasks/addition/config.json", "content": json.dumps(dict(short, init="weights/avg.safetensors"))},
    ]
    obs, reward, terminated, truncated, info = env.step(ops)
    assert all(op["ok"] for op in info["ops"]), info["ops"]
    result = env.result.results["addition"]
    assert result.grade.valid, result.grade.error
    assert "initialised from weights/avg.safetensors" in result.log_tail
    env.close()
