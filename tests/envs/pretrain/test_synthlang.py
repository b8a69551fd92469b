"""synthlang: the exact entropy floor, the data builder and the grader."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from rsigym.checkpoints import GPTConfig, build_model, save_checkpoint
from rsigym.envs.pretrain import SUITE_DIR
from rsigym.envs.pretrain.synthlang.language import Automaton, random_automaton, related_automaton
from rsigym.envs.pretrain.synthlang.task import SCALE_CONFIGS, SynthLangTask
from rsigym.sandbox import ExecResult
from rsigym.tasks import RunContext


def tiny_language() -> Automaton:
    """Three states, three symbols, with a zero-probability emission (0 log 0 must count as 0)."""
    emit = np.array([[0.5, 0.3, 0.2], [0.9, 0.1, 0.0], [0.2, 0.2, 0.6]])
    next_state = np.array([[1, 2, 0], [0, 2, 1], [2, 0, 1]])
    return Automaton(emit, next_state)


def forward_log2_prob(language: Automaton, doc: np.ndarray) -> float:
    """log2 p(doc) by the general hidden-Markov forward recursion, summing over every state path.

    Independent of the state tracking that ``entropy_bits`` and ``surprisal_bits`` rely on.
    """
    alpha = np.zeros(language.n_states)
    alpha[language.start] = 1.0
    log_prob = 0.0
    for symbol in doc:
        moved = np.zeros(language.n_states)
        for state in range(language.n_states):
            moved[language.next_state[state, symbol]] += alpha[state] * language.emit[state, symbol]
        total = moved.sum()
        if total == 0:
            return -np.inf
        log_prob += np.log2(total)
        alpha = moved / total
    return log_prob


def test_entropy_floor_equals_exhaustive_enumeration():
    language, length = tiny_language(), 6
    entropy = 0.0
    for doc in itertools.product(range(3), repeat=length):
        log_prob = forward_log2_prob(language, np.array(doc))
        if np.isfinite(log_prob):
            entropy -= 2.0**log_prob * log_prob
    assert language.entropy_bits(length) == pytest.approx(entropy / length, abs=1e-12)


def test_entropy_floor_agrees_with_a_monte_carlo_estimate():
    rng = np.random.default_rng(3)
    language, length = random_automaton(rng, n_states=6, n_symbols=5), 12
    docs = language.sample(4000, length, rng)
    per_doc = np.array([-forward_log2_prob(language, doc) / length for doc in docs])
    standard_error = per_doc.std(ddof=1) / np.sqrt(len(per_doc))
    assert abs(per_doc.mean() - language.entropy_bits(length)) < 4 * standard_error
    assert standard_error < 0.01  # the check is sharp enough to catch a wrong floor


def test_surprisal_under_the_source_matches_the_forward_recursion():
    rng = np.random.default_rng(4)
    language = random_automaton(rng, n_states=8, n_symbols=6)
    docs = language.sample(20, 10, rng)
    by_position = language.surprisal_bits(docs).sum(axis=1)
    assert by_position == pytest.approx([-forward_log2_prob(language, doc) for doc in docs])


def test_related_languages_drift_with_distance():
    rng = np.random.default_rng(5)
    target = random_automaton(rng, 16, 8)
    assert np.array_equal(related_automaton(target, rng, 0.0).emit, target.emit)
    changed = [np.mean(np.any(related_automaton(target, rng, d).emit != target.emit, axis=1)) for d in (0.25, 0.9)]
    assert changed[0] < changed[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthlang")
    task = SynthLangTask(SUITE_DIR / "synthlang")
    task.prepare(7, "ci", root / "data", root / "private")
    return task, root


def test_prepare_writes_the_stream_and_keeps_the_test_text_private(prepared):
    task, root = prepared
    sizes = SCALE_CONFIGS["ci"].sizes
    meta = json.loads((root / "data" / "meta.json").read_text())
    assert meta["bos"] == sizes.n_symbols and meta["vocab_size"] == sizes.n_symbols + 1
    assert np.load(root / "data" / "curated.npy").shape == (sizes.curated, sizes.doc_len)
    assert np.load(root / "data" / "crawl.npy").shape == (sizes.crawl, sizes.doc_len)
    assert sorted(p.name for p in (root / "private").iterdir()) == [
        "floor.json", "instance_secret", "private_test.npy", "public_test.npy", "target.npz"]
    assert not any("test" in p.name or "target" in p.name for p in (root / "data").iterdir())


def test_the_crawl_mixes_target_text_with_noise(prepared):
    task, root = prepared
    target = Automaton.load(root / "private" / "target.npz")
    crawl = np.load(root / "data" / "crawl.npy").astype(np.int64)
    possible = np.isfinite(target.surprisal_bits(crawl).sum(axis=1))  # noise almost surely hits a forbidden symbol
    assert 0.3 < possible.mean() < 0.45  # 35 % clean target documents, a few lucky corrupted ones
    curated = np.load(root / "data" / "curated.npy").astype(np.int64)
    assert np.isfinite(target.surprisal_bits(curated)).all()


def test_prepare_is_deterministic_per_seed(prepared, tmp_path):
    task, root = prepared
    task.prepare(7, "ci", tmp_path / "same" / "data", tmp_path / "same" / "private")
    task.prepare(8, "ci", tmp_path / "other" / "data", tmp_path / "other" / "private")
    same = np.load(tmp_path / "same" / "data" / "crawl.npy")
    assert np.array_equal(same, np.load(root / "data" / "crawl.npy"))
    assert not np.array_equal(same, np.load(tmp_path / "other" / "data" / "crawl.npy"))


def grade(task, root, output, run=None):
    ctx = RunContext(task.id, root, root / "data", root / "private", output, 7, "ci")
    return task.grade(ctx, run or ExecResult(0, "", "", 1.0))


def test_a_uniform_model_scores_log2_vocab_minus_the_floor(prepared, tmp_path):
    task, root = prepared
    model = build_model(GPTConfig(vocab_size=17, context=64, d_model=16, n_layers=1, n_heads=2, d_ff=32))
    for parameter in model.parameters():
        parameter.data.zero_()  # all logits zero: a uniform prediction over the 17 tokens
    save_checkpoint(model, tmp_path)
    result = grade(task, root, tmp_path)
    floor = json.loads((root / "private" / "floor.json").read_text())["entropy_bits"]
    assert result.valid, result.error
    assert result.public == pytest.approx(np.log2(17) - floor)
    assert result.details["entropy_floor_bits"] == pytest.approx(floor, abs=1e-4)
    assert result.details["source_bits_on_test"] == pytest.approx(floor, abs=0.05)


def test_the_grader_refuses_a_model_over_the_parameter_cap(prepared, tmp_path):
    task, root = prepared
    save_checkpoint(build_model(GPTConfig(vocab_size=17, context=64, d_model=160, n_layers=1, n_heads=4, d_ff=640)), tmp_path)
    result = grade(task, root, tmp_path)
    assert not result.valid
    assert "above this task's cap of 250,000" in result.error
    assert task.loss(result.public, result.valid) == 2.0


def test_the_grader_refuses_a_context_shorter_than_a_document(prepared, tmp_path):
    task, root = prepared
    save_checkpoint(build_model(GPTConfig(vocab_size=17, context=32, d_model=16, n_layers=1, n_heads=2, d_ff=32)), tmp_path)
    assert "needs at least 64" in grade(task, root, tmp_path).error


def test_the_grader_explains_a_missing_checkpoint(prepared, tmp_path):
    task, root = prepared
    (tmp_path / "notes.txt").write_text("forgot to save")
    result = grade(task, root, tmp_path)
    assert not result.valid
    assert "no model.safetensors or config.json to $RSI_OUTPUT_DIR" in result.error
    assert "notes.txt" in result.error


def test_the_grader_refuses_pickled_weights(prepared, tmp_path):
    task, root = prepared
    model = build_model(GPTConfig(vocab_size=17, context=64, d_model=16, n_layers=1, n_heads=2, d_ff=32))
    save_checkpoint(model, tmp_path)
    torch.save(model.state_dict(), tmp_path / "model.safetensors")
    result = grade(task, root, tmp_path)
    assert not result.valid
    assert result.error.startswith("checkpoint refused: model.safetensors is a zip archive (the torch.save format)")
