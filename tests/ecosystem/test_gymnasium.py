"""Gymnasium's checker, wrappers and vector envs on the registered ids, with the default kwargs."""
from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rsigym.env import RSIEnv
from tests.ecosystem.conftest import SMALL, TASKS, read_scalars


def note(text: str) -> str:
    """An action that changes the workspace (a new line in the agent's notes): one iteration."""
    return json.dumps({"op": "write", "path": "harness/memory.md", "content": f"# notes\n{text}\n"})


def play(env: gym.Env, steps: int) -> tuple[list[float], dict]:
    rewards, info = [], {}
    for n in range(steps):
        _, reward, terminated, truncated, info = env.step(note(f"step {n}"))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return rewards, info


def test_check_env_passes_on_the_made_and_the_unwrapped_env():
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=TASKS)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)  # every check, the render modes and determinism of infos included
        assert [str(w.message) for w in caught if "WARN" in str(w.message)] == []
        with pytest.warns(UserWarning, match="different from the unwrapped version"):  # Gymnasium's advice
            check_env(env)  # through gym.make's wrappers: passes too
    finally:
        env.close()


def test_info_leaves_reserved_and_run_varying_keys_out():
    env = gym.make("RSI-MLE-v0", suite="toy", **SMALL)
    try:
        _, info = env.reset(seed=0)
        assert "episode" not in info and "rsi" not in info  # "episode" belongs to the statistics wrappers
        stats = env.unwrapped.stats()
        assert stats["episode"] == 0 and set(stats["cached"]) == set(TASKS) and stats["wall_s"] >= 0
    finally:
        env.close()
    opted_in = gym.make("RSI-MLE-v0", suite="toy", **SMALL, info_stats=True)
    try:
        _, info = opted_in.reset(seed=0)
        assert set(info["rsi"]) == {"episode", "wall_s", "compute_s", "cached"} and info["rsi"]["episode"] == 0
    finally:
        opted_in.close()


def test_record_episode_statistics_reports_the_episode():
    env = gym.wrappers.RecordEpisodeStatistics(gym.make("RSI-MLE-v0", suite="toy", **SMALL))
    try:
        env.reset(seed=0)
        rewards, info = play(env, 5)
    finally:
        env.close()
    assert len(rewards) == 2  # the iteration budget ends the episode
    assert info["episode"]["l"] == 2 and info["episode"]["r"] == pytest.approx(sum(rewards))
    assert info["private_loss"] is not None


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_with_record_episode_statistics(mode):
    envs = gym.wrappers.vector.RecordEpisodeStatistics(
        gym.make_vec("RSI-MLE-v0", suite="toy", num_envs=2, vectorization_mode=mode, **SMALL))
    try:
        obs, infos = envs.reset(seed=0)
        assert len(obs["text"]) == 2 and "step 0" in obs["text"][0] and obs["losses"].shape == (2, 1)
        totals = np.zeros(2)
        for n in range(2):
            obs, rewards, terminated, truncated, infos = envs.step((note(f"a{n}"), note(f"b{n}")))
            totals += rewards
            # the text is this step's, in both modes (async reads Gymnasium's shared memory afresh)
            assert all(f"step {n + 1}" in text for text in obs["text"])
    finally:
        envs.close()
    assert truncated.all() and not terminated.any()
    assert infos["_episode"].all()
    assert infos["episode"]["l"].tolist() == [2, 2]
    assert infos["episode"]["r"] == pytest.approx(totals)
    assert np.isfinite(infos["private_loss"]).all()


def test_time_limit_truncates_before_the_iteration_budget():
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=TASKS, max_episode_steps=1)
    try:
        env.reset(seed=0)
        _, _, terminated, truncated, info = env.step(note("once"))
    finally:
        env.close()
    assert truncated and not terminated and info["iteration"] == 1


def test_normalize_reward_scales_finite_rewards():
    env = gym.wrappers.NormalizeReward(gym.make("RSI-MLE-v0", suite="toy", **SMALL))
    try:
        env.reset(seed=0)
        rewards, _ = play(env, 2)
    finally:
        env.close()
    assert len(rewards) == 2 and all(np.isfinite(rewards))


def test_render_modes_ansi_and_rgb_array():
    frames = []
    env = gym.make("RSI-MLE-v0", suite="toy", **SMALL, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        frames.append(env.render())
        env.step(note("drawn"))
        frames.append(env.render())
    finally:
        env.close()
    assert all(frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 for frame in frames)
    assert frames[0].shape == frames[1].shape  # video writers need one frame size
    assert (frames[0] < 128).any() and not np.array_equal(frames[0], frames[1])  # text drawn, and it changed

    env = gym.make("RSI-MLE-v0", suite="toy", **SMALL, render_mode="ansi")
    try:
        obs, _ = env.reset(seed=0)
        assert env.render() == obs["text"]
    finally:
        env.close()
    with pytest.raises(ValueError, match="'ansi', 'rgb_array'"):
        RSIEnv(tasks=TASKS, render_mode="depth_array")


def test_cleanrl_style_loop_logs_episodic_returns(tmp_path):
    """CleanRL's loop: a SyncVectorEnv of RecordEpisodeStatistics envs, returns read from infos["episode"]."""
    from torch.utils.tensorboard import SummaryWriter

    def make_env(env_id: str):
        def thunk():
            return gym.wrappers.RecordEpisodeStatistics(gym.make(env_id, **SMALL))
        return thunk

    envs = gym.vector.SyncVectorEnv([make_env("RSI-MLE-Menu-v0") for _ in range(2)])
    assert isinstance(envs.single_action_space, gym.spaces.Discrete)
    assert isinstance(envs.single_observation_space, gym.spaces.Box)
    run_dir = tmp_path / "runs" / "RSI-MLE-Menu-v0__loop__0"
    writer = SummaryWriter(str(run_dir))
    envs.action_space.seed(0)
    logged, totals, lengths = [], np.zeros(2), np.zeros(2, dtype=int)
    try:
        envs.reset(seed=0)
        # An episode ends after its iteration budget (evaluations of a changed workspace) or its
        # step cap (4 x iterations); a sampled edit that changes nothing spends no iteration.
        for global_step in range(4 * SMALL["iterations"]):
            _, rewards, _, _, infos = envs.step(envs.action_space.sample())
            running = np.isin(np.arange(2), logged, invert=True)
            totals += rewards * running
            lengths += running
            if "episode" in infos:
                for i in np.flatnonzero(infos["_episode"]):
                    if i not in logged:
                        writer.add_scalar("charts/episodic_return", infos["episode"]["r"][i], global_step)
                        writer.add_scalar("charts/episodic_length", infos["episode"]["l"][i], global_step)
                        logged.append(i)
    finally:
        writer.close()
        envs.close()
    assert sorted(logged) == [0, 1]
    scalars = read_scalars(run_dir)
    assert sorted(v for _, v in scalars["charts/episodic_return"]) == pytest.approx(sorted(totals), abs=1e-6)
    assert sorted(v for _, v in scalars["charts/episodic_length"]) == sorted(lengths)
