"""PPO on the menu env: a short real run writes what it promises, and a one-step episode is learnt."""
import csv
import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rsigym.baselines import ppo
from rsigym.baselines.common import parse_args
from rsigym.wrappers.action_menu import make_menu_env

WINE = ["--tasks", "wine", "--multipliers", "--train-seeds", "0"]


def test_args_parse_from_the_command_line():
    args = parse_args(ppo.Args, ["--tasks", "a", "b", "--multipliers", "--no-anneal-lr", "--target-kl", "0.02",
                                 "--num-envs", "2"])
    assert args.tasks == ("a", "b") and args.multipliers == () and args.anneal_lr is False
    assert args.target_kl == 0.02 and args.num_envs == 2 and args.seed == ppo.Args.seed


@pytest.mark.slow
def test_short_run_logs_tensorboard_curves_and_held_out_velocities(tmp_path):
    # evaluated on the training instance to keep the test short: every grade is then shared
    result = ppo.main([*WINE, "--iterations", "2", "--num-envs", "2", "--num-steps", "4", "--total-timesteps", "8",
                       "--num-minibatches", "2", "--eval-seeds", "0", "--out", str(tmp_path)])
    root = tmp_path / result["run_dir"].split("/")[-1]
    with (root / "training_curve.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["global_step", "episodic_return"] and len(rows) - 1 == result["episodes"] >= 1
    # (an episode ends after 2 evaluations of a changed workspace or 8 steps: menu edits that
    # change nothing spend no iteration, so 8 steps over 2 envs finish one to four episodes)
    events = EventAccumulator(str(root), size_guidance={"scalars": 0})
    events.Reload()
    returns = [event.value for event in events.Scalars("charts/episodic_return")]
    assert returns == pytest.approx([float(r[1]) for r in rows[1:]])
    assert {"losses/policy_loss", "losses/value_loss", "charts/SPS"} <= set(events.Tags()["scalars"])
    assert (root / "envs" / "env0" / "tb").is_dir()  # the env-level TensorBoardLogger of each training env
    for label in ("ppo", "menu-random"):
        velocity = result["velocity"][label]
        assert velocity["n"] == 1 and np.isfinite(velocity["mean"])
        first = json.loads((root / "eval" / label / "seed0" / "log.jsonl").read_text().splitlines()[0])
        assert first["agent"] == label and first["seed"] == 0
    saved = json.loads((root / "summary.json").read_text())["velocity"]
    assert {label: saved[label]["values"] for label in saved} == {label: v["values"] for label, v in result["velocity"].items()}


@pytest.mark.slow
def test_ppo_learns_the_best_edit_of_a_one_step_episode(tmp_path):
    # With one evaluation per episode, the return of an action is fixed: a contextual bandit.
    args = parse_args(ppo.Args, [*WINE, "--iterations", "1", "--num-envs", "2", "--num-steps", "8",
                                     "--total-timesteps", "160", "--learning-rate", "0.01", "--eval-seeds", "0",
                                     "--out", str(tmp_path)])
    agent, _, _ = ppo.train(args)
    env = make_menu_env(suite="toy", tasks=["wine"], iterations=1, multipliers=())
    try:
        obs, _ = env.reset(seed=0)
        rewards = []
        for action in range(env.action_space.n):  # every action's return, graded once (cached since training)
            env.reset(seed=0)
            rewards.append(env.step(action)[1])
        with torch.no_grad():
            chosen = int(agent.greedy_action(torch.as_tensor(obs).unsqueeze(0)).item())
    finally:
        env.close()
    assert rewards[chosen] > np.mean(rewards) and rewards[chosen] >= sorted(rewards)[-2]
