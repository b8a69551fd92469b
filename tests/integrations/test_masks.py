"""Infrastructure-masked steps leave the RL update: TRL's GRPOTrainer sees them as unscorable."""
from __future__ import annotations

import json
import math

import pytest

from rsigym.baselines import trl_adapter
from rsigym.baselines.trl_adapter import RSIReward, make_dataset
from tests.baselines.conftest import tiny_causal_lm  # noqa: F401  (fixture: a 1-layer Llama built offline)
from tests.faults.infra import FlakySandbox

BETTER_WINE = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}
WRITE_BETTER_WINE = {"op": "write", "path": "tasks/wine/config.json", "content": json.dumps(BETTER_WINE)}


def test_the_reward_hook_returns_none_for_a_masked_step():
    sandbox = FlakySandbox()
    reward = RSIReward(tasks=["wine"], sandbox=sandbox)
    try:
        reward.env.reset(seed=0)
        sandbox.failures = reward.env.unwrapped.infra_retries + 1  # the next evaluation fails on every try
        action = json.dumps(WRITE_BETTER_WINE)
        assert reward(prompts=["p", "p"], completions=[action, action], seed=[0, 0]) == [None, pytest.approx(1.03, abs=0.05)]
    finally:
        reward.close()


@pytest.mark.slow
def test_grpo_leaves_masked_completions_out_of_its_rewards(tiny_causal_lm, tmp_path, monkeypatch):  # noqa: F811
    trl = pytest.importorskip("trl")
    sandbox = FlakySandbox()
    env_kwargs = {"suite": "toy", "tasks": ["wine"], "sandbox": sandbox}
    dataset = make_dataset([0], conversational=False, **env_kwargs)
    # The policy: a tiny random model writes no JSON, so its action is scripted (the trainer and env are real).
    monkeypatch.setattr(trl_adapter, "extract_action", lambda text: [WRITE_BETTER_WINE])
    reward = RSIReward(**env_kwargs)
    reward.env.reset(seed=0)
    sandbox.failures = reward.env.unwrapped.infra_retries + 1  # the first completion's evaluation: the host fails
    args = trl.GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=4, max_steps=1, logging_steps=1, report_to=[],
                          save_strategy="no", use_cpu=True, seed=0)
    trainer = trl.GRPOTrainer(model=str(tiny_causal_lm), reward_funcs=reward, args=args, train_dataset=dataset)
    try:
        trainer.train()
    finally:
        reward.close()
    logged = trainer.state.log_history[0]
    # one completion masked (None: unscorable), one graded (a loss decrease near 1.03): the mean is the graded
    # one's alone; a masked step scored as 0 would have halved it
    assert sandbox.failures == 0  # the host did fail the first completion's evaluation
    assert logged["rewards/rsigym/mean"] == pytest.approx(1.03, abs=0.05) and math.isfinite(logged["loss"])
    assert logged["reward"] == pytest.approx(logged["rewards/rsigym/mean"])


def test_rllib_callback_drops_sampled_episodes_that_hold_a_masked_step():
    pytest.importorskip("ray.rllib", reason="RLlib is not installed: pip install 'ray[rllib]'")
    import gymnasium as gym
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    from rsigym.wrappers.rllib_masks import DropInfraMaskedEpisodes

    def episode(infos: list[dict]) -> SingleAgentEpisode:
        chunk = SingleAgentEpisode(observation_space=gym.spaces.Discrete(2), action_space=gym.spaces.Discrete(2))
        chunk.add_env_reset(observation=0, infos=infos[0])
        for info in infos[1:]:
            chunk.add_env_step(observation=0, action=0, reward=0.0, infos=info)
        return chunk

    clean = episode([{}, {"loss": 0.9}, {"loss": 0.8}])
    masked = episode([{}, {"infra_error": "disk full on the run folder"}, {"loss": 0.8}])
    samples = [clean, masked]
    DropInfraMaskedEpisodes().on_sample_end(samples=samples)
    assert samples == [clean]
