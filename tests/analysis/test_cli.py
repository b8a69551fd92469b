"""``leaderboard`` and ``report`` end to end on synthetic runs of three agents × three seeds."""
import argparse
import csv

import numpy as np

from rsigym.analysis.cli import main, register
from rsigym.analysis.markdown import MARKER, write_generated

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_corpus(make_log, curve_of):
    # Planted ranking by velocity: fast > slow > flat; "slow" carries harness over 2 episodes.
    for seed in range(3):
        make_log(f"runs/fast-{seed}", [curve_of(0.1, 0.9, 0.9, 12, noise=0.01, seed=seed)], agent="fast",
                 model="m1", seed=seed, covariates={"budget": 10 * (seed + 1)})
        make_log(f"runs/slow-{seed}", [curve_of(0.5, 0.5, 0.4, 12, noise=0.01, seed=seed),
                                       curve_of(0.3, 0.7, 0.6, 12, noise=0.01, seed=seed)],
                 agent="slow", seed=seed, covariates={"budget": 10 * (seed + 1)})
        make_log(f"runs/flat-{seed}", [np.full(13, 1.0)], agent="random", seed=seed)
    # A run that is still going (or crashed): no final record, so it is left out.
    log = make_log("runs/running-0", [curve_of(0.1, 0.9, 0.9, 12)], agent="fast", model="m1", seed=9) / "log.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:5]))


def test_leaderboard_end_to_end(make_log, curve_of, tmp_path):
    make_corpus(make_log, curve_of)
    out = tmp_path / "board"
    out.mkdir()
    (out / "leaderboard.md").write_text("# My intro\n\nkept text\n")
    assert main(["leaderboard", str(tmp_path / "runs"), "--out", str(out), "--bootstrap", "8"]) == 0

    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert [r["agent_model"] for r in rows] == ["fast+m1", "slow", "random"]
    assert [r["runs"] for r in rows] == ["3", "3", "3"]
    fast = rows[0]
    assert float(fast["velocity_low"]) < float(fast["velocity"]) < float(fast["velocity_high"])
    assert float(rows[2]["velocity"]) == 0.0
    assert len(list(csv.DictReader((out / "runs.csv").open()))) == 12  # 9 first episodes + 3 carried ones

    text = (out / "leaderboard.md").read_text()
    assert text.startswith("# My intro\n\nkept text\n")  # hand-written text above the marker is kept
    assert "1 unfinished episodes" in text
    assert "| 1 | fast+m1 | 3 |" in text and "| 3 | random | 3 |" in text
    for section in ("### Prediction", "### Time horizon", "### Laws across runs", "### Meta-velocity"):
        assert section in text
    assert "budget" in text  # the covariate law
    for name in ("velocity", "curves", "curves_compute", "horizon", "backtest", "meta", "law_budget"):
        png = out / "img" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000, name
        assert f"img/{name}.png" in text
    assert list((out / "tb").rglob("events.out.tfevents.*"))


def test_regenerating_keeps_the_text_above_the_marker(tmp_path):
    path = tmp_path / "board.md"
    write_generated(path, "first body")
    path.write_text("# Intro written by hand\n\n" + path.read_text())
    write_generated(path, "second body")
    text = path.read_text()
    assert text.startswith("# Intro written by hand\n\n" + MARKER)
    assert "second body" in text and "first body" not in text


def test_report_of_one_run(make_log, curve_of, tmp_path):
    run_dir = make_log("one", [curve_of(0.2, 0.8, 0.7, 12), curve_of(0.1, 0.9, 0.9, 12)], agent="llm")
    assert main(["report", str(run_dir), "--bootstrap", "10", "--no-tb"]) == 0
    text = (run_dir / "report" / "report.md").read_text()
    assert "## Episode 0" in text and "## Episode 1" in text and "gain from harness edits" in text
    assert "predicted best L(12) from k=6" in text
    assert (run_dir / "report" / "img" / "curve_episode1.png").read_bytes()[:8] == PNG_MAGIC
    assert (run_dir / "report" / "img" / "meta.png").exists()


def test_register_adds_subcommands_with_funcs(tmp_path):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["leaderboard", "a", "b", "--out", str(tmp_path)])
    assert args.run_dirs and callable(args.func)
    assert main(["leaderboard", str(tmp_path), "--out", str(tmp_path / "o")]) == 1  # no logs: an error code
