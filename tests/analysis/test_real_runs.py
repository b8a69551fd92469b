"""The leaderboard over real runs made here with ``rsigym run``: 2 agents × 2 seeds of digits+wine.

These logs come from the env itself (not from the synthetic fixture), so whatever the env
writes (two tasks of the same human time, runs that end early, NaN-free but flat curves) has
to render.
"""
import csv
import json
import re
from pathlib import Path

import pytest

from rsigym.analysis.cli import main as analysis_main
from rsigym.cli import main as rsigym_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASKS = ["digits", "wine"]


def make_run(out: Path, agent: str, seed: int, iterations: int = 4) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    code = rsigym_main(["run", "RSI-MLE-v0", "--tasks", *TASKS, "--agent", agent, "--iterations", str(iterations),
                        "--seed", str(seed), "--out", str(out), "--env-kwargs", '{"suite": "toy"}'])
    assert code == 0
    (run_dir,) = set(out.iterdir()) - before
    return run_dir


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    for agent in ("greedy", "random"):
        for seed in (0, 1):
            make_run(runs, agent, seed)
    return runs


def test_two_agents_two_seeds_render(corpus, tmp_path, capsys):
    out = tmp_path / "board"
    assert analysis_main(["leaderboard", *map(str, sorted(corpus.iterdir())), "--out", str(out),
                          "--bootstrap", "20"]) == 0
    assert "warning" not in capsys.readouterr().err  # one setup: nothing pooled
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert sorted(r["agent_model"] for r in rows) == ["greedy", "random"]
    assert all(r["runs"] == "2" and r["seeds"] == "0 1" for r in rows)
    text = (out / "leaderboard.md").read_text()
    # digits and wine are both labelled 10 human minutes: no slope can be fitted, and the report says why.
    assert "No time horizon fitted: every task takes the same human time (10 min)" in text
    assert "| RSI-MLE-v0 | digits, wine | 4 | ci | 4 | 2 |" in text  # the setup, budget from env.json
    for image in re.findall(r"\]\((img/[^)]+\.png)\)", text):
        assert (out / image).read_bytes()[:8] == PNG_MAGIC, image
    assert {"velocity.png", "curves.png", "curves_compute.png"} <= {p.name for p in (out / "img").iterdir()}
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert {r["budget"] for r in runs} == {"4"} and {r["tasks"] for r in runs} == {"digits wine"}


def test_runs_of_different_budgets_are_pooled_with_a_warning(corpus, tmp_path, capsys):
    other = make_run(tmp_path / "more", "greedy", 0, iterations=2)
    out = tmp_path / "board"
    assert analysis_main(["leaderboard", str(corpus), str(other), "--out", str(out), "--bootstrap", "10"]) == 0
    assert "warning: runs from 2 different setups" in capsys.readouterr().err
    text = (out / "leaderboard.md").read_text()
    assert "**Warning:** runs from 2 different setups" in text
    assert "Setup RSI-MLE-v0 · digits, wine · 4 · ci:" in text and "Setup RSI-MLE-v0 · digits, wine · 2 · ci:" in text


def test_token_totals_per_agent(corpus, tmp_path):
    """Records with ``usage`` (what the LLM agent logs) are summed per agent+model."""
    runs = tmp_path / "runs"
    expected = {}
    for number, run_dir in enumerate(sorted(corpus.iterdir())):
        copy = runs / run_dir.name
        copy.mkdir(parents=True)
        (copy / "env.json").write_text((run_dir / "env.json").read_text())
        records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
        for step, record in enumerate(records[1:], start=1):
            record["usage"] = {"prompt_tokens": 1000 * (number + 1) + step, "completion_tokens": 10 * step}
        (copy / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        totals = expected.setdefault(records[0]["agent"], [0, 0])
        totals[0] += sum(r["usage"]["prompt_tokens"] for r in records[1:])
        totals[1] += sum(r["usage"]["completion_tokens"] for r in records[1:])
    out = tmp_path / "board"
    assert analysis_main(["leaderboard", str(runs), "--out", str(out), "--no-tb", "--bootstrap", "10"]) == 0
    text = (out / "leaderboard.md").read_text()
    assert "### Token usage" in text
    for agent, (prompt, completion) in expected.items():
        assert f"| {agent} | 2 | {prompt:,} | {completion:,} | {prompt + completion:,} |" in text
    # Without usage in the records there is no token section at all.
    assert analysis_main(["leaderboard", str(corpus), "--out", str(tmp_path / "plain"), "--no-tb",
                          "--bootstrap", "10"]) == 0
    assert "Token usage" not in (tmp_path / "plain" / "leaderboard.md").read_text()
