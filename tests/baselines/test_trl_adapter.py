"""The TRL adapter: rewards from real episodes, and GRPOTrainer steps with a tiny random model on CPU."""
import json

import pytest

from rsigym.baselines.trl_adapter import RSIReward, RSIToolEnv, make_dataset, tool_env_factory
from tests.conftest import STRONG_DIGITS

ENV = {"tasks": ["digits"], "suite": "toy"}
STRONG_ACTION = json.dumps({"op": "write", "path": "tasks/digits/config.json", "content": json.dumps(STRONG_DIGITS)})


def test_reward_plays_each_completion_on_its_rows_seed():
    reward = RSIReward(**ENV)
    try:
        completions = [f"I will switch to an SVC.\n```json\n{STRONG_ACTION}\n```", "no idea",
                       [{"role": "assistant", "content": STRONG_ACTION}]]
        rewards = reward(prompts=["p"] * 3, completions=completions, seed=[0, 0, 1])
    finally:
        reward.close()
    assert rewards[0] > 0.3 and rewards[1] == 0.0 and rewards[2] > 0.3
    assert rewards[0] != rewards[2]  # another task instance, another score


def test_dataset_rows_hold_the_starter_feedback_and_the_seed():
    pytest.importorskip("datasets")
    dataset = make_dataset([0, 1], conversational=False, **ENV)
    assert dataset["seed"] == [0, 1]
    assert "| digits |" in dataset["prompt"][0] and "Digit Recognizer" in dataset["prompt"][0]
    assert dataset["prompt"][0].count("## Action protocol") == 1  # the first observation brings it, once


def test_tool_env_episode_tools_and_reward():
    env = RSIToolEnv(**ENV, iterations=3)
    text = env.reset(seed=0)
    assert "| digits |" in text
    assert '"kind"' in env.read_file("tasks/digits/config.json")
    env.write_file("tasks/digits/config.json", json.dumps(STRONG_DIGITS))
    assert env.total == 0.0  # writing is free; the reward comes with evaluation
    assert env.get_reward() > 0.3 and env.done


def grpo_config(tmp_path, **overrides):
    trl = pytest.importorskip("trl")
    settings = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                    max_completion_length=12, max_steps=1, learning_rate=1e-3, logging_steps=1, report_to=[],
                    save_strategy="no", use_cpu=True, seed=0, beta=0.04)
    return trl.GRPOConfig(**{**settings, **overrides})


@pytest.mark.slow
def test_grpo_trainer_steps_with_the_reward_hook(tiny_causal_lm, tmp_path):
    trl = pytest.importorskip("trl")
    reward = RSIReward(**ENV)
    calls = []

    def counted(prompts, completions, **kwargs):
        calls.append(len(completions))
        return reward(prompts, completions, **kwargs)

    trainer = trl.GRPOTrainer(model=str(tiny_causal_lm), reward_funcs=counted, args=grpo_config(tmp_path),
                              train_dataset=make_dataset([0], conversational=False, **ENV))
    try:
        trainer.train()
    finally:
        reward.close()
    assert trainer.state.global_step == 1 and calls == [2]
    logged = trainer.state.log_history[0]
    assert "rewards/counted/mean" in logged and "kl" in logged


@pytest.mark.slow
def test_grpo_trainer_steps_with_the_tool_environment(tiny_causal_lm, tmp_path):
    trl = pytest.importorskip("trl")
    trainer = trl.GRPOTrainer(model=str(tiny_causal_lm), environment_factory=tool_env_factory(**ENV, iterations=2),
                              args=grpo_config(tmp_path, max_tool_calling_iterations=1),
                              train_dataset=make_dataset([0], **ENV))
    trainer.train()
    assert trainer.state.global_step == 1
    assert {"read_file", "write_file", "evaluate"} <= {tool.__name__ for tool in trainer.tools}
    assert "rewards/RSIToolEnv/mean" in trainer.state.log_history[0]
