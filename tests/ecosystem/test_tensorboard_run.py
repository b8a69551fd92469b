"""``rsigym run`` writes TensorBoard events by default; read back with TensorBoard's EventAccumulator."""
from __future__ import annotations

import json

import pytest

from rsigym.cli import main
from tests.ecosystem.conftest import read_scalars


def test_run_writes_the_tags_users_read_from_iteration_zero(tmp_path, capsys):
    assert main(["run", "RSI-MLE-v0", "--agent", "greedy", "--iterations", "2", "--tasks", "wine", "--env-kwargs", '{"suite": "toy"}',
                 "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert str(run_dir / "tb") in capsys.readouterr().out.replace("\n", "")
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    scalars = read_scalars(run_dir / "tb")

    # the starter (iteration 0) is the first point, then one per step
    assert [step for step, _ in scalars["rsigym/loss/public"]] == list(range(len(records)))
    assert [v for _, v in scalars["rsigym/loss/public"]] == pytest.approx([r["loss"] for r in records], abs=1e-6)
    assert [v for _, v in scalars["rsigym/loss/wine"]] == pytest.approx([r["losses"]["wine"] for r in records],
                                                                        abs=1e-6)
    steps = len(records) - 1
    episode_return = sum(r["reward"] for r in records[1:])
    assert scalars["charts/episodic_return"] == [(steps, pytest.approx(episode_return, abs=1e-6))]
    assert scalars["charts/episodic_length"] == [(steps, steps)]
    gain = records[0]["loss"] - records[-1]["loss"]
    assert scalars["rsigym/velocity"] == [(steps, pytest.approx(gain / records[-1]["iteration"], abs=1e-6))]
    assert scalars["rsigym/private_loss"] == [(steps, pytest.approx(records[-1]["private_loss"], abs=1e-6))]
    medals = [[v for _, v in scalars[f"rsigym/medals/{m}"]] for m in ("gold", "silver", "bronze")]
    assert [sum(held) for held in zip(*medals)] == [v for _, v in scalars["rsigym/medals/any"]]
    assert all(count in (0, 1) for count in (v for _, v in scalars["rsigym/medals/any"]))  # one task
