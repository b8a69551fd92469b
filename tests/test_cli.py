import json

from rsigym.cli import main


def test_tasks_lists_every_task_with_its_numbers(capsys):
    assert main(["tasks", "--suite", "mle"]) == 0
    out = capsys.readouterr().out
    for word in ("digits", "house-prices", "rmsle", "human_minutes"):
        assert word in out


def test_run_with_greedy_lowers_the_loss_and_writes_a_log(tmp_path, capsys):
    code = main(["run", "RSI-MLE-v0", "--agent", "greedy", "--iterations", "3", "--seed", "0", "--out", str(tmp_path),
                 "--tasks", "digits", "wine"])
    assert code == 0
    out = capsys.readouterr().out
    assert "sum of rewards" in out and "suite" in out
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("RSI-MLE-v0__greedy__0__")
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert records[-1]["loss"] < records[0]["loss"]
    assert records[-1]["private_loss"] is not None and records[-1]["agent"] == "greedy"


def test_resume_finishes_an_interrupted_run(tmp_path, capsys):
    import gymnasium as gym

    run_dir = tmp_path / "interrupted"
    env = gym.make("RSI-MLE-v0", tasks=["digits", "wine"], iterations=3, run_dir=run_dir, agent="greedy")
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "# Memory\nbefore the crash\n"})
    env.close()  # as if the process had died here
    assert main(["resume", str(run_dir)]) == 0
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records[:2]] == [0, 1] and records[-1]["iteration"] == 3
    assert records[-1]["private_loss"] is not None
    assert "resuming" in capsys.readouterr().out
