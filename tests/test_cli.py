import json

import pytest

from rsigym.cli import main


def test_tasks_lists_every_task_with_its_numbers(capsys):
    assert main(["tasks", "--suite", "toy"]) == 0
    out = capsys.readouterr().out
    for word in ("digits", "house-prices", "rmsle", "human_minutes"):
        assert word in out


def test_run_with_greedy_lowers_the_loss_and_writes_a_log(tmp_path, capsys):
    code = main(["run", "RSI-MLE-v0", "--agent", "greedy", "--iterations", "3", "--seed", "0", "--out", str(tmp_path),
                 "--tasks", "digits", "wine", "--env-kwargs", '{"suite": "toy"}'])
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
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["digits", "wine"], iterations=3, run_dir=run_dir, agent="greedy")
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "# Memory\nbefore the crash\n"})
    env.close()  # as if the process had died here
    assert main(["resume", str(run_dir)]) == 0
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records[:2]] == [0, 1] and records[-1]["iteration"] == 3
    assert records[-1]["private_loss"] is not None
    assert "resuming" in capsys.readouterr().out


def test_python_m_rsigym_prints_the_installed_version():
    import importlib.metadata
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "rsigym", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"rsigym {importlib.metadata.version('rsigym')}"


def test_revert_restores_an_earlier_iteration_through_a_logged_revert_op(tmp_path, capsys):
    import gymnasium as gym

    run_dir = tmp_path / "run"
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=4, run_dir=run_dir)
    env.reset(seed=0)
    memory = run_dir / "workspace" / "harness" / "memory.md"
    starter = memory.read_text()
    env.step({"op": "write", "path": "harness/memory.md", "content": "an edit to undo\n"})
    env.close()
    assert memory.read_text() == "an edit to undo\n"

    assert main(["revert", str(run_dir), "0"]) == 0
    assert "restored to iteration 0" in capsys.readouterr().out
    assert memory.read_text() == starter
    last = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    assert [(op["op"], op["ok"]) for op in last["ops"]][0] == ("revert", True)

    assert main(["revert", str(run_dir), "9"]) == 2  # no such iteration: one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("rsigym: error:") and "no iteration 9" in err and "Traceback" not in err


AGENT_MODULE = '''
class SubmitAgent:
    """Evaluates once, then submits."""

    name = "submitter"

    def __init__(self, env, seed=0):
        self.steps = 0

    def reset(self, obs, info):
        self.steps = 0

    def act(self, obs, info):
        self.steps += 1
        return {"op": "evaluate"} if self.steps == 1 else {"op": "submit"}


def make_submitter(env, seed=0):
    return SubmitAgent(env, seed)


class Broken:
    def __init__(self, env, seed=0):
        raise ValueError("this agent cannot start")


class NoAct:
    def __init__(self, env, seed=0):
        pass
'''


def _user_agents(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_agents.py").write_text(AGENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_run_with_the_users_own_agent_class_or_function(tmp_path, monkeypatch):
    _user_agents(tmp_path, monkeypatch)
    for spec in ("my_agents:SubmitAgent", "my_agents:make_submitter"):
        out = tmp_path / spec.replace(":", "_")
        assert main(["run", "--agent", spec, "--tasks", "wine", "--iterations", "5", "--out", str(out), "--env-kwargs", '{"suite": "toy"}']) == 0
        (run_dir,) = out.iterdir()
        assert run_dir.name.startswith(f"RSI-MLE-v0__{spec.replace(':', '.')}__0__")
        records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
        assert {r["agent"] for r in records} == {spec}  # the tag `rsigym resume` loads the agent from again
        assert records[-1]["terminated"] and records[-1]["ops"][0]["op"] == "submit"


def test_env_kwargs_reach_the_env(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "--agent", "greedy", "--tasks", "wine", "--iterations", "2", "--out", str(out),
                 "--env-kwargs", '{"step_cost": 0.25, "suite": "toy"}']) == 0
    (run_dir,) = out.iterdir()
    assert json.loads((run_dir / "env.json").read_text())["kwargs"]["step_cost"] == 0.25
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    for before, after in zip(records, records[1:]):
        assert after["reward"] == pytest.approx(before["loss"] - after["loss"] - 0.25)


@pytest.mark.parametrize("argv, message", [
    (["--env-kwargs", '{"step_cots": 0.01}'], "Did you mean 'step_cost'?"),
    (["--env-kwargs", '{"iterations": 3}'], "set 'iterations' with --iterations instead"),
    (["--agent", "gredy"], "Did you mean 'greedy'?"),
    (["--agent", "no_such_module_here:Agent"], "cannot import module 'no_such_module_here'"),
    (["--agent", "my_agents:Missing"], "has no attribute 'Missing'"),
    (["--agent", "my_agents:Broken"], "this agent cannot start"),
    (["--agent", "my_agents:NoAct"], "without reset(obs, info) and act(obs, info)"),
    (["--tasks", "no-such-task"], "unknown task 'no-such-task'"),
    (["RSI-NoSuchEnv-v0"], "RSI-NoSuchEnv"),
])
def test_errors_are_one_line_and_leave_no_run_folder(tmp_path, monkeypatch, capsys, argv, message):
    _user_agents(tmp_path, monkeypatch)
    out = tmp_path / "runs" / "nested"
    assert main(["run", "--tasks", "wine", "--iterations", "2", "--out", str(out), "--env-kwargs", '{"suite": "toy"}', *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rsigym: error:") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_failed_first_reset_removes_the_run_folder(tmp_path, capsys):
    import gymnasium as gym

    from rsigym.env import RSIEnv

    class ResetFails(RSIEnv):
        def reset(self, *, seed=None, options=None):
            raise RuntimeError("the first reset failed")

    gym.register("RSI-TestResetFails-v0", entry_point=ResetFails, kwargs={"suite": "toy", "tasks": ["wine"]})
    try:
        out = tmp_path / "runs"
        out.mkdir()  # an output folder the user already had stays
        assert main(["run", "RSI-TestResetFails-v0", "--out", str(out)]) == 2
        assert "rsigym: error: RuntimeError: the first reset failed" in capsys.readouterr().err
        assert out.is_dir() and not list(out.iterdir())
    finally:
        del gym.registry["RSI-TestResetFails-v0"]


def test_traceback_flag_shows_the_real_error(tmp_path):
    with pytest.raises(ValueError, match="unknown agent"):
        main(["--traceback", "run", "--agent", "gredy", "--out", str(tmp_path)])


def test_llm_agent_without_an_endpoint_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    for name in ("RSIGYM_LLM_BASE_URL", "OPENAI_BASE_URL", "RSIGYM_LLM_MODEL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "runs"
    assert main(["run", "--agent", "llm", "--tasks", "wine", "--iterations", "2", "--out", str(out), "--env-kwargs", '{"suite": "toy"}']) == 2
    err = capsys.readouterr().err
    assert err.startswith("rsigym: error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
