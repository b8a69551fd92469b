"""GRPO: the grammar, the group-relative objective, and short real training runs."""
import json
import math

import numpy as np
import pytest
import torch

from rsigym.actions import parse_action
from rsigym.baselines import grpo
from rsigym.registry import load_suite

TASKS = load_suite("toy", ["digits", "wine"])


def test_every_sequence_the_grammar_allows_is_a_valid_action():
    grammar = grpo.Grammar(TASKS, ops=("write", "evaluate", "submit"), max_ops=2, max_settings=2)
    rng = np.random.default_rng(0)
    for _ in range(200):
        tokens = []
        while not tokens or tokens[-1] != grammar.index["<end>"]:
            tokens.append(int(rng.choice(grammar.allowed(tokens))))
            assert len(tokens) <= grammar.max_len
        parsed = parse_action(grammar.render(tokens))
        assert not parsed.error and 1 <= len(parsed.ops) <= 2
        for op in parsed.ops:
            if op.name == "write":
                assert isinstance(json.loads(op.args["content"]), dict)


def test_the_default_grammar_only_writes():
    grammar = grpo.Grammar(TASKS)
    assert [grammar.tokens[i] for i in grammar.allowed([])] == ["write"]
    with pytest.raises(ValueError, match="subset"):
        grpo.Grammar(TASKS, ops=("read",))


def test_a_model_switch_drops_the_starters_parameters():
    grammar = grpo.Grammar(TASKS)
    svc = next(i for i, (path, value) in grammar.settings["wine"].items() if path == ("model",) and value == "svc")
    c = next(i for i, (path, value) in grammar.settings["wine"].items() if path == ("params", "C"))
    tokens = [grammar.index["write"], grammar.index["task:wine"], svc, c, grammar.index["<done>"], grammar.index["<end>"]]
    (op,) = json.loads(grammar.render(tokens))
    assert op["path"] == "tasks/wine/config.json"
    assert json.loads(op["content"]) == {"kind": "classification", "model": "svc", "params": {"C": 3.0}}
    prompt = grammar.prompt([0.2, 2.0, 0.95], start=[1.0, 1.0, 1.0])
    assert prompt[1:] == [grammar.index["change:0"], grammar.index["change:4"], grammar.index["change:2"]]


def test_group_advantages_are_relative_to_the_group():
    assert grpo.group_advantages([1.0, 1.0, 1.0]).tolist() == [0.0, 0.0, 0.0]
    advantages = grpo.group_advantages([0.0, 1.0, 2.0])
    assert advantages.mean() == pytest.approx(0.0) and advantages.std() == pytest.approx(1.0)
    assert advantages[2] > 0 > advantages[0]


def test_grpo_loss_clips_the_ratio_and_penalises_kl():
    old = [torch.log(torch.tensor([0.5, 0.5]))]
    new = [torch.log(torch.tensor([0.9, 0.9])).requires_grad_()]
    loss, stats = grpo.grpo_loss(new, old, [old[0]], [1.0], clip_coef=0.2, kl_coef=0.0)
    assert loss.item() == pytest.approx(-1.2)  # ratio 1.8 clipped to 1.2 for a positive advantage
    assert stats["clipfrac"] == 1.0 and stats["kl"] > 0
    loss.backward()
    assert torch.all(new[0].grad == 0)  # no gradient through the clipped branch
    same, stats = grpo.grpo_loss(old, old, old, [0.0], clip_coef=0.2, kl_coef=1.0)
    assert same.item() == pytest.approx(0.0) and stats["kl"] == pytest.approx(0.0)


@pytest.mark.slow
def test_short_training_run_updates_the_policy_and_reports_velocity(tmp_path):
    result = grpo.main(["--tasks", "wine", "--updates", "2", "--group-size", "3", "--seeds-per-update", "1",
                        "--train-seeds", "0", "--train-iterations", "1", "--eval-seeds", "0", "--eval-iterations", "2",
                        "--out", str(tmp_path)])
    curve = result["curve"]
    assert [update for update, *_ in curve] == [1, 2]
    assert all(math.isfinite(mean) for _, mean, _ in curve)
    velocity = result["velocity"]["grpo"]
    assert velocity["n"] == 1 and math.isfinite(velocity["mean"])
    root = tmp_path / result["run_dir"].split("/")[-1]
    assert (root / "policy.pt").is_file() and (root / "training_curve.csv").read_text().count("\n") == 3
    log = [json.loads(line) for line in (root / "eval" / "grpo" / "seed0" / "log.jsonl").read_text().splitlines()]
    # reset + 1..8 steps: the policy may submit early, and steps that change nothing spend no
    # iteration, so the step cap (4 x 2 eval iterations) may end the episode instead
    assert log[0]["agent"] == "grpo" and 2 <= len(log) <= 1 + 4 * 2
    assert log[-1]["terminated"] or log[-1]["truncated"]
    assert list(root.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_hugging_face_model_trains_through_the_same_loop(tiny_causal_lm, tmp_path):
    args = grpo.Args(tasks=("wine",), updates=1, group_size=2, seeds_per_update=1, train_seeds=(0,), train_iterations=1,
                     model=str(tiny_causal_lm), max_new_tokens=8, prompt_chars=300, out=str(tmp_path), kl_coef=0.1)
    policy, root, curve = grpo.train(args)
    assert isinstance(policy, grpo.CausalLMPolicy) and len(curve) == 1
    trained = torch.load(root / "policy.pt")
    assert any(key.endswith("embed_tokens.weight") for key in trained)
