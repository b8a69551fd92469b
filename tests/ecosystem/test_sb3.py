"""Stable-Baselines3 as its docs show it: ``make_vec_env`` on the registered menu env, PPO and A2C."""
from __future__ import annotations

import pytest

from tests.ecosystem.conftest import SMALL, read_scalars

pytest.importorskip("stable_baselines3", reason="Stable-Baselines3 is the rl extra: pip install 'rsigym[rl]'")
from stable_baselines3 import A2C, PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from rsigym.wrappers.sb3 import RSIMetricsCallback  # noqa: E402

RSI_TAGS = {"rsigym/loss/public", "rsigym/loss/wine", "rsigym/velocity", "rsigym/private_loss",
            "rsigym/medals/gold", "rsigym/medals/silver", "rsigym/medals/bronze", "rsigym/medals/any"}


@pytest.mark.parametrize("algorithm", [PPO, A2C])
def test_learn_logs_episode_statistics_and_rsi_metrics(algorithm, tmp_path):
    # make_vec_env asks for render_mode="rgb_array" and wraps each env in SB3's Monitor
    env = make_vec_env("RSI-MLE-Menu-v0", n_envs=2, seed=0, env_kwargs=SMALL)
    settings = {"n_steps": 2, "batch_size": 4} if algorithm is PPO else {"n_steps": 2}
    model = algorithm("MlpPolicy", env, seed=0, tensorboard_log=str(tmp_path), **settings)
    try:
        # 2 envs × 2 steps per rollout: both 2-iteration episodes end in every rollout; dump_logs
        # runs after each (it crashed when the env wrote a counter into info["episode"]).
        model.learn(total_timesteps=8, callback=RSIMetricsCallback(), log_interval=1)
        frames = env.render()  # what make_vec_env's rgb_array default is for
    finally:
        env.close()
    assert frames.ndim == 3 and frames.shape[2] == 3

    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]  # e.g. PPO_1
    scalars = read_scalars(run_dir)
    assert RSI_TAGS <= set(scalars)
    first_return = scalars["rollout/ep_rew_mean"][0][1]
    assert scalars["rollout/ep_len_mean"][0][1] == 2
    # At the first dump both cover the same two episodes: velocity is the return per iteration.
    assert scalars["rsigym/velocity"][0][1] == pytest.approx(first_return / 2, abs=1e-5)
    assert all(-1 <= value <= 2 for _, value in scalars["rsigym/loss/public"])
    assert all(0 <= value <= 1 for _, value in scalars["rsigym/medals/any"])  # one task holds at most one medal
