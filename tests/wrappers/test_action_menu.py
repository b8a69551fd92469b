"""ActionMenu: discrete parametric edits that become real workspace edits, usable by standard RL."""
import json
import math

import gymnasium as gym
import numpy as np
import pytest

from rsigym.registry import load_suite
from rsigym.tasks import Edit
from rsigym.wrappers.action_menu import ActionMenu, MenuItem, build_menu, make_menu_env, task_menu

# wine alone keeps the number of distinct solutions (each one a real sandboxed run) small
MENU_KWARGS = {"suite": "toy", "tasks": ["wine"], "iterations": 4}


@pytest.fixture
def menu_env(tmp_path):
    made = []

    def factory(**kwargs):
        env = make_menu_env(**{**MENU_KWARGS, "run_dir": tmp_path / f"menu{len(made)}", **kwargs})
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


def action_index(env: ActionMenu, name: str) -> int:
    return env.action_names.index(name)


def test_menu_holds_named_edits_multipliers_and_revert():
    wine = load_suite("toy", ["wine"])[0]
    names = [item.name for item in task_menu(wine)]
    assert names[: len(wine.spec.edits)] == [f"wine:{edit.name}" for edit in wine.spec.edits]
    assert "wine:params.n_neighborsx2" in names and "wine:params.Cx0.5" in names
    menu = build_menu([wine])
    assert menu[-1].is_revert and len(menu) == len(names) + 1


def test_multiplier_clamps_rounds_integers_and_skips_missing_knobs():
    item = MenuItem("k", "t", knob=("params", "n_neighbors"), factor=2.0, bounds=(1, 12), integer=True)
    config = {"model": "knn", "params": {"n_neighbors": 5}}
    assert item.apply(config) == {"model": "knn", "params": {"n_neighbors": 10}}
    assert config["params"]["n_neighbors"] == 5  # the input is not mutated
    assert item.apply({"params": {"n_neighbors": 10}}) == {"params": {"n_neighbors": 12}}
    assert item.apply({"params": {"n_neighbors": 12}}) is None  # at the bound: no change
    assert item.apply({"model": "svc", "params": {"C": 1.0}}) is None  # the model has no such knob
    lr = MenuItem("lr", "t", knob=("lr",), factor=0.5, bounds=(1e-4, 1e-2))
    assert lr.apply({"lr": 1e-3}) == {"lr": 5e-4}
    edit = MenuItem("e", "t", edit=Edit("svc", {"model": "svc", "params": {"C": 3.0}}))
    assert edit.apply({"model": "knn", "params": {"n_neighbors": 5}, "scale": True}) == {
        "model": "svc", "params": {"C": 3.0}, "scale": True}


def test_items_become_real_workspace_edits_and_revert_restores_the_best(menu_env):
    env = menu_env(iterations=3)  # the item that does not apply spends no iteration
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and not obs[3:].any()  # no last action yet
    config_path = env.unwrapped.workspace_dir / "tasks/wine/config.json"
    starter = json.loads(config_path.read_text())

    obs, reward, _, _, info = env.step(action_index(env, "wine:scale"))
    assert json.loads(config_path.read_text()) == {**starter, "scale": True}
    assert info["menu_applied"] and info["ops"][0]["op"] == "write" and info["ops"][0]["kind"] == "code"
    assert reward > 0  # scaling the features helps k-NN on wine
    assert obs[3 + action_index(env, "wine:scale")] == 1.0 and obs[3:].sum() == 1.0
    scaled_loss = info["losses"]["wine"]

    _, reward, _, _, info = env.step(action_index(env, "wine:params.Cx2"))  # k-NN has no C
    assert not info["menu_applied"] and reward == 0.0 and info["iteration"] == 1

    _, _, _, _, info = env.step(action_index(env, "wine:more-neighbours"))
    assert json.loads(config_path.read_text())["params"] == {"n_neighbors": 11}

    _, _, _, truncated, info = env.step(action_index(env, "revert-best"))
    assert info["ops"][0] == {"op": "revert", "path": None, "kind": None, "ok": True, "error": None}
    assert json.loads(config_path.read_text()) == {**starter, "scale": True}
    assert info["losses"]["wine"] == pytest.approx(scaled_loss) and truncated


def test_seed_pool_draws_episode_seeds_from_the_pool(menu_env):
    env = menu_env(seeds=[5, 6])
    drawn = set()
    for seed in range(6):
        env.reset(seed=seed)
        drawn.add(env.unwrapped.data_seed)
    assert drawn == {5, 6}


def test_passes_stable_baselines3_check_env(menu_env):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    # the one-seed pool keeps every reset of the checker on one task instance (graded once)
    env = menu_env(multipliers=(), seeds=[0])
    sb3_checker.check_env(env, warn=True)


def test_registered_id_builds_the_menu_env(tmp_path):
    env = gym.make("RSI-MLE-Menu-v0", **MENU_KWARGS, run_dir=tmp_path / "registered")
    try:
        assert isinstance(env.action_space, gym.spaces.Discrete)
        obs, _ = env.reset(seed=0)
        assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
    finally:
        env.close()


@pytest.mark.parametrize("vector_class", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_runs_in_vector_envs(vector_class):
    envs = vector_class([lambda: make_menu_env(**MENU_KWARGS, multipliers=()) for _ in range(2)])
    try:
        obs, infos = envs.reset(seed=0)
        assert obs.shape == (2, envs.single_observation_space.shape[0])
        # env i was seeded 0 + i: different task instances, so the starters score differently
        assert not math.isclose(infos["losses"]["wine"][0], infos["losses"]["wine"][1])
        scale = 0  # the first item: wine's first named edit
        obs, rewards, terminated, truncated, infos = envs.step(np.array([scale, scale]))
        # the same edit, applied for real in both (wine's small split can tie the edited scores)
        assert infos["menu_applied"].all() and np.isfinite(rewards).all() and (rewards != 0).all()
        assert obs[:, 3 + scale].tolist() == [1.0, 1.0]
    finally:
        envs.close()


@pytest.mark.slow
def test_stable_baselines3_ppo_trains_on_the_menu(menu_env, tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    env = menu_env(multipliers=(), seeds=[0])
    model = sb3.PPO("MlpPolicy", env, n_steps=4, batch_size=4, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=8)
    assert model.num_timesteps == 8
    assert any(not np.allclose(a.numpy(), b.detach().numpy()) for a, b in zip(before, model.policy.parameters()))
    action, _ = model.predict(env.reset(seed=1)[0], deterministic=True)
    assert env.action_space.contains(int(action))
