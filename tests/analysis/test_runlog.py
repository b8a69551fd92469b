import json

import numpy as np
import pytest

from rsigym.analysis.runlog import load_runs, read_runs
from rsigym.runlog import RunLogError


def test_episodes_tags_and_curve(make_log):
    run_dir = make_log("r1", [[1.0, 0.8, 0.6], [1.0, 0.7]], agent="llm", model="m-7b", seed=3,
                       covariates={"params_b": 7})
    runs = read_runs(run_dir / "log.jsonl")
    assert [r.episode for r in runs] == [0, 1]
    first, second = runs
    assert (first.agent, first.model, first.seed, first.label) == ("llm", "m-7b", 3, "llm+m-7b")
    assert first.covariates == {"params_b": 7}
    assert second.tasks == first.tasks and first.tasks["long"]["human_minutes"] == 120
    curve = first.curve()
    np.testing.assert_allclose(curve.loss, [1.0, 0.8, 0.6])
    np.testing.assert_allclose(curve.compute_s, [0.0, 30.0, 60.0])
    assert curve.kinds == ((), ("code",), ("code",))
    assert first.complete and first.private_loss == pytest.approx(0.65)
    assert first.final_losses("private")["short"] == pytest.approx(0.6 * 0.4 + 0.05)
    assert first.final_losses("public")["short"] == pytest.approx(0.6 * 0.4)


def test_truncated_last_line_is_dropped(make_log):
    log = make_log("crash", [[1.0, 0.9, 0.8, 0.7]]) / "log.jsonl"
    text = log.read_text()
    log.write_text(text[: len(text) - 40])  # cut inside the last record
    (run,) = read_runs(log)
    assert len(run.records) == 3 and not run.complete and run.private_loss is None
    np.testing.assert_allclose(run.curve().loss, [1.0, 0.9, 0.8])


def test_corrupt_line_in_the_middle_raises(make_log):
    log = make_log("bad", [[1.0, 0.9, 0.8]]) / "log.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:20]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunLogError, match=":2:"):
        read_runs(log)


def test_iterations_group_non_evaluating_steps(tmp_path):
    """With manual evaluation, edits made over several steps count towards the next evaluation."""
    base = {"run_id": "m", "env_id": "E", "agent": "a", "model": None, "seed": 0, "episode": 0,
            "wall_s": 0, "losses": {}, "reward": 0, "private_loss": None}
    rows = [
        dict(base, step=0, iteration=0, compute_s=0, ops=[], loss=1.0, evaluated=False),
        dict(base, step=1, iteration=0, compute_s=5, ops=[{"op": "write", "kind": "harness", "ok": True}], loss=1.0),
        dict(base, step=2, iteration=0, compute_s=5, ops=[{"op": "write", "kind": "weight", "ok": False}], loss=1.0),
        dict(base, step=3, iteration=1, compute_s=9, ops=[{"op": "evaluate", "kind": None, "ok": True}], loss=0.5,
             evaluated=True),
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(map(json.dumps, rows)))
    (run,) = load_runs([tmp_path])
    curve = run.curve()
    np.testing.assert_allclose(curve.loss, [1.0, 0.5])
    np.testing.assert_allclose(curve.compute_s, [0.0, 9.0])
    assert curve.kinds[1] == ("harness",)  # the failed weight edit earns nothing


def test_load_runs_finds_nested_logs(make_log, tmp_path):
    make_log("a/seed0", [[1.0, 0.5]])
    make_log("a/seed1", [[1.0, 0.6]])
    assert sorted(r.run_id for r in load_runs([tmp_path])) == ["a/seed0", "a/seed1"]
    with pytest.raises(FileNotFoundError):
        load_runs([tmp_path / "missing"])


def test_a_resumed_episode_stays_one_run(make_log):
    """A process resuming a crashed run appends with its own run_id; the episode is still one."""
    log = make_log("resumed", [[1.0, 0.9, 0.8, 0.7]]) / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for record in records[2:]:
        record["run_id"] = "resumed-by-another-process"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    (run,) = read_runs(log)
    assert run.run_id == "resumed" and len(run.records) == 4
    np.testing.assert_allclose(run.curve().loss, [1.0, 0.9, 0.8, 0.7])
