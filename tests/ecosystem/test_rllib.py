"""RLlib's PPO on the registered menu env, named by its Gymnasium id as RLlib's docs do."""
from __future__ import annotations

import math

import pytest

from tests.ecosystem.conftest import SMALL

ray = pytest.importorskip("ray", reason="RLlib needs Ray: pip install 'ray[rllib]'")


@pytest.fixture
def local_ray():
    """A private local Ray instance with 2 CPUs, shut down afterwards so the next test starts clean."""
    from rsigym.backends.ray import connect

    connect(num_cpus=2)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_rllib_ppo_trains_on_the_menu_env(local_ray):
    pytest.importorskip("ray.rllib", reason="RLlib is not installed: pip install 'ray[rllib]'")
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core import ALL_MODULES
    from ray.rllib.utils.metrics import (ENV_RUNNER_RESULTS, EPISODE_LEN_MEAN, EPISODE_RETURN_MEAN,
                                         LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED, NUM_ENV_STEPS_TRAINED, NUM_EPISODES)

    iterations = SMALL["iterations"]  # one menu action per iteration: an episode is 2 env steps
    config = (
        PPOConfig()
        .environment("RSI-MLE-Menu-v0", env_config=SMALL)  # RLlib calls gym.make(id, **env_config)
        # room for whole episodes: a menu item that changes nothing spends a step but no iteration
        .env_runners(num_env_runners=0, rollout_fragment_length=8 * iterations)
        .training(train_batch_size_per_learner=8 * iterations, minibatch_size=8 * iterations, num_epochs=1)
        .debugging(seed=0)  # the sampled menu actions, and so the episode lengths, are the same every run
    )
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    sampling = result[ENV_RUNNER_RESULTS]
    assert sampling[NUM_ENV_STEPS_SAMPLED] >= 2 * iterations
    assert sampling[NUM_EPISODES] >= 1
    # truncated by the iteration budget, as RLlib sees it; a menu item that leaves the workspace as it
    # was (the best already restored, an edit already made) spends a step but no iteration
    assert sampling[EPISODE_LEN_MEAN] >= iterations
    # an episode's return is the loss decrease, bounded by the loss range [-1, 2]
    assert math.isfinite(sampling[EPISODE_RETURN_MEAN]) and abs(sampling[EPISODE_RETURN_MEAN]) <= 3
    assert result[LEARNER_RESULTS][ALL_MODULES][NUM_ENV_STEPS_TRAINED] > 0
