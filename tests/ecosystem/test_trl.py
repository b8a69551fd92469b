"""TRL's GRPOTrainer with rsigym's reward hook, as docs/baselines.md shows it (default env kwargs)."""
from __future__ import annotations

import math

import pytest

from rsigym.baselines.trl_adapter import RSIReward, make_dataset
from tests.baselines.conftest import tiny_causal_lm  # noqa: F401  (fixture: a 1-layer Llama built offline)
from tests.ecosystem.conftest import TASKS


@pytest.mark.slow
def test_grpo_trainer_trains_on_rewards_from_real_episodes(tiny_causal_lm, tmp_path):  # noqa: F811
    trl = pytest.importorskip("trl")
    env_kwargs = {"tasks": TASKS, "suite": "toy"}
    reward = RSIReward(**env_kwargs)
    args = trl.GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=12, max_steps=1, logging_steps=1, report_to=[],
                          save_strategy="no", use_cpu=True, seed=0)
    trainer = trl.GRPOTrainer(model=str(tiny_causal_lm), reward_funcs=reward, args=args,
                              train_dataset=make_dataset([0], conversational=False, **env_kwargs))
    try:
        trainer.train()
    finally:
        reward.close()
    assert trainer.state.global_step == 1
    logged = trainer.state.log_history[0]
    # a random model's 12 tokens are no valid action: each earns 0 (no loss change, no step cost)
    assert logged["rewards/rsigym/mean"] == 0.0 and math.isfinite(logged["loss"])
