"""The verifiers adapter, run by verifiers' own evaluation entry point (``vf-eval``'s main)
against a scripted OpenAI-compatible server on loopback: the rollout plays an rsigym episode
that lowers the wine task's loss, and its reward is rsigym's."""
from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

from rsigym.env import RSIEnv
from tests.faults.infra import FlakySandbox

vf = pytest.importorskip("verifiers.v1")

from rsigym.integrations import verifiers as rsigym_verifiers  # noqa: E402  (after the skip)
from tests.integrations.chat_server import ScriptedChatServer, assistant_turns  # noqa: E402

BETTER_WINE = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}
ACTIONS = [
    json.dumps({"op": "write", "path": "tasks/wine/config.json", "content": json.dumps(BETTER_WINE)}),
    "```json\n" + json.dumps({"op": "evaluate"}) + "\n```",
    json.dumps({"op": "submit"}),
]


# A run configuration as a verifiers user writes one (docs/integrations.md has the same).
EVAL_TOML = """
model = "{model}"
num_rollouts = 1
push = false
output_dir = "{out}"

[client]
base_url = "{base_url}"
api_key_var = "RSIGYM_TEST_KEY"

[env.taskset]
id = "rsigym_verifiers"
env_id = "{env_id}"
env_kwargs = {{ suite = "toy", tasks = ["wine"], iterations = 4 }}

[env.player]
max_turns = 6
runtime = {{ type = "subprocess" }}
"""


def scripted_policy(messages: list[dict]) -> str:
    return ACTIONS[min(assistant_turns(messages), len(ACTIONS) - 1)]


def read_traces(run_dir: Path) -> list[dict]:
    """The traces of every episode ``vf-eval`` wrote under ``run_dir``."""
    files = list(run_dir.rglob("traces.jsonl"))
    assert files, f"no traces.jsonl under {run_dir}"
    episodes = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    return [trace for episode in episodes for trace in episode["traces"]]


def run_vf_eval(tmp_path: Path, env_id: str) -> tuple[dict, ScriptedChatServer]:
    """One rollout of ``env_id`` through ``vf-eval``, the scripted policy on loopback."""
    from verifiers.v1.cli.eval.main import main as vf_eval

    with ScriptedChatServer(scripted_policy) as server:
        config = tmp_path / "eval.toml"
        config.write_text(EVAL_TOML.format(model=server.model, base_url=server.base_url, out=tmp_path / "out",
                                           env_id=env_id))
        vf_eval(["@", str(config)])
    [trace] = read_traces(tmp_path / "out")
    return trace, server


def test_load_environment_returns_a_verifiers_env_with_rsigym_tasks():
    env = rsigym_verifiers.load_environment("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=4)
    assert isinstance(env, vf.Env)
    [task] = list(env.taskset)
    assert task.data.env_id == "RSI-MLE-v0" and task.data.env_kwargs == {"suite": "toy", "tasks": ["wine"], "iterations": 4}


def test_vf_eval_plays_an_episode_that_lowers_the_loss(tmp_path):
    trace, server = run_vf_eval(tmp_path, "RSI-MLE-v0")
    info = trace["info"]
    assert trace["ok"] and not trace["errors"], trace["errors"]
    assert info["rsigym_episode_over"] and not info["masked"] and info["infra_masked_steps"] == []
    assert info["rsigym_loss"] < info["rsigym_start_loss"]
    assert trace["rewards"]["rsigym_reward"]["score"] == pytest.approx(info["rsigym_start_loss"] - info["rsigym_loss"])
    assert len(server.requests) == len(ACTIONS)


def flaky_wine_env(**kwargs) -> RSIEnv:
    """Wine on a sandbox the host fails on every try of the first evaluation after reset."""
    env = RSIEnv(sandbox=FlakySandbox(), **kwargs)
    reset = env.reset

    def reset_then_fail(**reset_kwargs):
        answer = reset(**reset_kwargs)
        env.sandbox.failures = env.infra_retries + 1
        return answer

    env.reset = reset_then_fail
    return env


def test_a_rollout_with_an_infra_masked_step_is_not_ok_so_trainers_drop_it(tmp_path):
    gym.register("RSI-TestFlakyWine-v0", entry_point=flaky_wine_env)
    try:
        trace, _ = run_vf_eval(tmp_path, "RSI-TestFlakyWine-v0")
    finally:
        gym.registry.pop("RSI-TestFlakyWine-v0")
    info = trace["info"]
    assert info["masked"] and [step["step"] for step in info["infra_masked_steps"]] == [1]
    assert "injected: the sandbox engine is unreachable" in info["infra_masked_steps"][0]["infra_error"]
    assert not trace["ok"] and trace["errors"][0]["type"] == "SandboxError"
    assert info["rsigym_episode_over"] and info["rsigym_loss"] < info["rsigym_start_loss"]  # graded once it cleared
    assert trace["rewards"]["rsigym_reward"]["score"] == pytest.approx(info["rsigym_start_loss"] - info["rsigym_loss"])
