"""The loop environment end to end on the fast MLE tasks."""
import json

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.conftest import BROKEN_SOLUTION, STRONG_DIGITS, write_config

LOG_KEYS = {"run_id", "env_id", "agent", "model", "seed", "episode", "step", "iteration", "wall_s", "compute_s",
            "ops", "losses", "loss", "reward", "private_loss"}


def test_check_env_passes_on_the_unwrapped_env(make_env):
    env = make_env(iterations=3)
    check_env(env.unwrapped, skip_render_check=True)


def test_better_solution_earns_reward_broken_one_costs_and_revert_restores(make_env):
    env = make_env(iterations=10)
    obs, info = env.reset(seed=0)
    start = info["losses"]["digits"]
    assert obs["losses"].shape == (2,) and obs["budget"].tolist() == [1.0, 1.0]

    obs, reward, terminated, truncated, info = env.step(write_config("digits", STRONG_DIGITS))
    assert reward > 0 and info["losses"]["digits"] < start - 0.3
    assert info["kinds"] == ["code"] and info["iteration"] == 1
    improved = info["losses"]["digits"]

    obs, reward, *_, info = env.step({"op": "write", "path": "tasks/digits/solution.py", "content": BROKEN_SOLUTION})
    assert info["losses"]["digits"] == 2.0 and reward < 0
    assert "deliberately broken" in obs["text"] and "digits" in obs["text"]

    obs, reward, *_, info = env.step({"op": "revert", "iteration": 1})
    assert info["losses"]["digits"] == pytest.approx(improved)
    assert reward == pytest.approx(2.0 - improved, abs=1e-9) or reward > 0


def test_rewards_telescope_to_the_total_loss_decrease(make_env):
    env = make_env(iterations=4, step_cost=0.0)  # the read and the malformed action spend no iteration
    _, info = env.reset(seed=1)
    first = info["loss"]
    actions = [
        write_config("digits", STRONG_DIGITS),
        {"op": "write", "path": "tasks/wine/solution.py", "content": BROKEN_SOLUTION},
        {"op": "read", "path": "tasks/wine/config.json"},
        "not json at all",
        {"op": "revert", "iteration": 1},
        write_config("wine", {"kind": "classification", "model": "knn", "scale": True, "params": {"n_neighbors": 5}}),
    ]
    total = 0.0
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
    assert truncated and not terminated
    assert total == pytest.approx(first - info["loss"], abs=1e-9)
    assert "private_loss" in info and set(info["private_losses"]) == {"digits", "wine"}


def test_step_cost_is_charged_every_step(make_env):
    env = make_env(iterations=3, step_cost=0.01)
    env.reset(seed=0)
    _, reward, *_ = env.step({"op": "read", "path": "harness/memory.md"})
    assert reward == pytest.approx(-0.01)


def test_same_seed_and_actions_give_the_same_observations(make_env):
    actions = [write_config("digits", STRONG_DIGITS), {"op": "read", "path": "tasks/digits/config.json"}, "{bad"]
    traces = []
    for _ in range(2):
        env = make_env(iterations=5, shared_cache=False)  # really grade twice
        obs, _ = env.reset(seed=3)
        trace = [(obs["text"], obs["losses"].tolist())]
        for action in actions:
            obs, reward, *_ = env.step(action)
            trace.append((obs["text"], obs["losses"].tolist(), reward))
        traces.append(trace)
    assert traces[0] == traces[1]


def test_different_seeds_give_different_task_instances(make_env):
    env = make_env()
    _, info0 = env.reset(seed=0)
    _, info1 = env.reset(seed=1)
    assert info0["scores"] != info1["scores"]


@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/abs.txt", "tasks/../../x", ".git/config"])
def test_paths_escaping_the_workspace_are_refused_in_the_observation(make_env, path, tmp_path):
    env = make_env(iterations=3)
    env.reset(seed=0)
    obs, reward, *_, info = env.step({"op": "write", "path": path, "content": "x"})
    assert reward == 0.0
    assert info["ops"][0]["ok"] is False and "ERROR" in obs["text"]


def test_symlinks_planted_by_a_run_never_enter_the_workspace(make_env):
    env = make_env(iterations=3)
    env.reset(seed=0)
    plant = {"op": "run", "cmd": "ln -s /etc/passwd tasks/digits/leak && ln -s / lib/root", "keep": ["tasks/digits", "lib"]}
    env.step(plant)
    workspace = env.unwrapped.workspace_dir
    assert not (workspace / "tasks/digits/leak").exists() and not (workspace / "lib/root").exists()
    obs, *_ = env.step({"op": "read", "path": "tasks/digits/leak"})
    assert "ERROR" in obs["text"]


def test_run_observes_output_and_keep_copies_files_back(make_env):
    env = make_env(iterations=3, auto_evaluate=False)
    env.reset(seed=0)
    obs, *_, info = env.step({"op": "run", "cmd": "echo hello-from-run && mkdir -p lib/made && echo 1 > lib/made/x.txt", "keep": ["lib/made"]})
    assert "hello-from-run" in obs["text"]
    assert (env.unwrapped.workspace_dir / "lib/made/x.txt").read_text() == "1\n"
    obs, *_ = env.step({"op": "run", "cmd": "echo gone > tasks/digits/config.json"})
    assert (env.unwrapped.workspace_dir / "tasks/digits/config.json").read_text() != "gone\n"


def test_merge_averages_checkpoints_as_a_weight_edit(make_env):
    env = make_env(iterations=3, auto_evaluate=False)
    env.reset(seed=0)
    make = ("python -c \"import numpy as np; from safetensors.numpy import save_file; "
            "save_file({'w': np.ones(3, np.float32)}, 'weights/a.safetensors'); "
            "save_file({'w': np.full(3, 3, np.float32)}, 'weights/b.safetensors')\"")
    env.step({"op": "run", "cmd": make, "keep": ["weights"]})
    obs, *_, info = env.step({"op": "merge", "inputs": ["weights/a.safetensors", "weights/b.safetensors"],
                              "weights": [3, 1], "out": "weights/merged.safetensors"})
    assert info["ops"][0] == {"op": "merge", "path": "weights/merged.safetensors", "kind": "weight", "ok": True, "error": None}
    from safetensors.numpy import load_file

    merged = load_file(str(env.unwrapped.workspace_dir / "weights/merged.safetensors"))["w"]
    assert np.allclose(merged, 1.5)
    _, *_, info = env.step({"op": "merge", "inputs": ["weights/a.safetensors", "harness/memory.md"], "out": "weights/bad.safetensors"})
    assert info["ops"][0]["ok"] is False and "safetensors" in info["ops"][0]["error"]


def test_patch_op_edits_a_file(make_env):
    env = make_env(iterations=3, auto_evaluate=False)
    env.reset(seed=0)
    diff = '@@ -1,3 +1,3 @@\n {\n-  "kind": "classification",\n+  "kind": "classification", "scale": true,\n'
    _, *_, info = env.step({"op": "patch", "path": "tasks/wine/config.json", "diff": diff})
    assert info["ops"][0]["ok"], info["ops"][0]["error"]
    assert json.loads((env.unwrapped.workspace_dir / "tasks/wine/config.json").read_text())["scale"] is True


def test_memory_head_is_in_every_observation(make_env):
    env = make_env(iterations=3)
    env.reset(seed=0)
    obs, *_, info = env.step({"op": "write", "path": "harness/memory.md", "content": "# Memory\nsvc beats naive bayes on digits\n"})
    assert "svc beats naive bayes on digits" in obs["text"] and info["kinds"] == ["harness"]


def test_iteration_budget_truncates_and_reveals_private_loss(make_env):
    env = make_env(iterations=2)
    _, info = env.reset(seed=0)
    assert "private_loss" not in info
    _, _, terminated, truncated, info = env.step({"op": "write", "path": "harness/a.md", "content": "a"})
    assert not truncated and "private_loss" not in info and info["iteration"] == 1
    obs, _, terminated, truncated, info = env.step({"op": "write", "path": "harness/b.md", "content": "b"})
    assert truncated and not terminated and "private_loss" in info and info["iteration"] == 2
    assert obs["budget"][0] == 0.0
    obs, reward, *_ = env.step({"op": "evaluate"})
    assert reward == 0.0 and "episode is over" in obs["text"]


def test_compute_budget_truncates(make_env):
    env = make_env(iterations=50, compute_seconds=2.0, auto_evaluate=False)
    env.reset(seed=0)
    _, _, _, truncated, info = env.step({"op": "run", "cmd": "sleep 5", "timeout": 30})
    assert truncated and info["budget"]["compute_left_s"] == 0.0


def test_submit_terminates_and_scores_private_split(make_env):
    env = make_env(iterations=5, auto_evaluate=False)
    env.reset(seed=0)
    env.step(write_config("digits", STRONG_DIGITS))
    _, reward, terminated, truncated, info = env.step({"op": "submit"})
    assert terminated and not truncated and reward > 0 and info["iteration"] == 1
    assert info["private_losses"]["digits"] < 0.5


def test_run_log_has_the_design_fields_and_one_record_per_step(make_env):
    env = make_env(iterations=2, agent="tester", model="m0")
    env.reset(seed=0)
    env.step(write_config("digits", STRONG_DIGITS))
    env.step({"op": "submit"})
    records = [json.loads(line) for line in (env.unwrapped.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert all(LOG_KEYS <= set(r) for r in records)
    assert records[0]["tasks"]["digits"]["human_minutes"] == 10
    assert records[1]["ops"] == [{"op": "write", "path": "tasks/digits/config.json", "kind": "code", "ok": True, "error": None}]
    assert records[1]["agent"] == "tester" and records[1]["model"] == "m0"
    assert records[0]["private_loss"] is None and records[-1]["private_loss"] is not None
    assert sum(r["reward"] for r in records) == pytest.approx(records[0]["loss"] - records[-1]["loss"])


def test_private_labels_stay_out_of_workspace_and_public_data(make_env):
    env = make_env(iterations=2)
    env.reset(seed=0)
    unwrapped = env.unwrapped
    public = {p.name for p in unwrapped.data_root.rglob("*")} | set(unwrapped.workspace.files())
    assert "labels.csv" not in public
    assert (unwrapped.private_root / "digits" / "labels.csv").is_file()
    test_csv = (unwrapped.data_root / "digits" / "test.csv").read_text().splitlines()[0]
    assert "target" not in test_csv


def test_reset_options_files_seed_the_workspace(make_env):
    env = make_env(iterations=2)
    obs, _ = env.reset(seed=0, options={"files": {"harness/memory.md": b"carried note\n"}})
    assert "carried note" in obs["text"]


def test_a_run_resumes_from_its_directory_with_no_lost_iteration(make_env, tmp_path):
    from rsigym.env import load_run

    env = make_env(iterations=6, run_dir=tmp_path / "resumable")
    env.reset(seed=2)
    env.step(write_config("digits", STRONG_DIGITS))
    _, _, _, _, before = env.step({"op": "write", "path": "harness/memory.md", "content": "remember\n"})
    env.unwrapped.workspace.write("tasks/wine/config.json", "{}")  # an edit made after the last evaluation
    resumed, obs, info = load_run(tmp_path / "resumable")
    try:
        assert info["iteration"] == before["iteration"] == 2
        assert info["losses"] == pytest.approx(before["losses"])
        assert "remember" in obs["text"]
        _, reward, terminated, _, info = resumed.step({"op": "submit"})  # the pending edit is evaluated
        assert terminated and info["iteration"] == 3 and info["losses"]["wine"] == 2.0
        records = [json.loads(line) for line in (tmp_path / "resumable" / "log.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records] == [0, 1, 2, 3] and {r["episode"] for r in records} == {0}
    finally:
        resumed.close()
