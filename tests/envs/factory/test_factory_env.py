"""The factory end to end on real tasks: regions, conflicts, rewards, revert, submit, the run log, baselines."""
import json

import pytest
from gymnasium.error import ResetNeeded

from rsigym.envs import factory
from rsigym.envs.factory import Role, gain_by_role, make_team, play_team_episode
from tests.conftest import write_config

WINE_SCALED = {"kind": "classification", "model": "knn", "scale": True, "params": {"n_neighbors": 5}}


@pytest.fixture
def make_factory(tmp_path):
    made = []

    def build(**kwargs) -> factory.FactoryEnv:
        kwargs.setdefault("tasks", ["wine"])
        kwargs.setdefault("suite", "toy")
        kwargs.setdefault("run_dir", tmp_path / f"run{len(made)}")
        env = factory.parallel_env(**kwargs)
        made.append(env)
        return env

    yield build
    for env in made:
        env.close()


def read_log(env: factory.FactoryEnv) -> list[dict]:
    return [json.loads(line) for line in (env.run_dir / "log.jsonl").read_text().splitlines()]


def test_an_episode_of_regions_conflicts_rewards_revert_and_submit(make_factory):
    env = make_factory(iterations=5, agent="team", model="m0")
    obs, infos = env.reset(seed=0)
    assert env.agents == env.possible_agents == ["mle_engineer", "harness_keeper"]
    assert infos["harness_keeper"]["roles"]["mle_engineer"]["region"] == ["tasks/wine", "weights"]
    assert all(env.observation_space(name).contains(obs[name]) for name in env.agents)
    start = infos["mle_engineer"]["loss"]
    workspace = env.core.workspace_dir
    starter_config = (workspace / "tasks/wine/config.json").read_text()

    obs, rewards, terminations, truncations, infos = env.step({
        "mle_engineer": [write_config("wine", WINE_SCALED),
                         {"op": "write", "path": "lib/helper.py", "content": "x = 1\n"},
                         {"op": "write", "path": "weights/notes.txt", "content": "from the engineer"}],
        "harness_keeper": [{"op": "write", "path": "weights/notes.txt", "content": "from the keeper"},
                           {"op": "write", "path": "tasks/wine/config.json", "content": "{}"},
                           {"op": "write", "path": "harness/memory.md", "content": "# Memory\nscaling helps knn\n"}],
    })
    engineer, keeper = infos["mle_engineer"], infos["harness_keeper"]
    assert [op["ok"] for op in engineer["ops"]] == [True, False, True]
    assert "belongs to harness_keeper" in engineer["ops"][1]["error"] and not (workspace / "lib/helper.py").exists()
    assert [op["ok"] for op in keeper["ops"]] == [True, False, True]
    assert json.loads((workspace / "tasks/wine/config.json").read_text()) == WINE_SCALED
    # both wrote the shared file: applied in role order, the keeper's edit came last; both are told
    assert (workspace / "weights/notes.txt").read_text() == "from the keeper"
    conflict = {"path": "weights/notes.txt", "agents": ["mle_engineer", "harness_keeper"]}
    assert engineer["conflicts"] == keeper["conflicts"] == [conflict]
    assert "conflict: weights/notes.txt" in obs["mle_engineer"]["text"] and "scaling helps knn" in obs["mle_engineer"]["text"]
    # one shared evaluation; each role's own loss is the suite loss here (one mle task), so r = (1 + λ) * gain
    gain = start - engineer["loss"]
    assert gain > 0.1 and engineer["iteration"] == 1
    assert rewards["mle_engineer"] == pytest.approx(1.5 * gain) and rewards["harness_keeper"] == pytest.approx(1.5 * gain)
    assert not any(terminations.values()) and not any(truncations.values())

    # revert restores the engineer's own folders only; the keeper leaves the game
    obs, rewards, terminations, truncations, infos = env.step({
        "mle_engineer": {"op": "revert", "iteration": 0}, "harness_keeper": {"op": "submit"}})
    assert (workspace / "tasks/wine/config.json").read_text() == starter_config
    assert (workspace / "weights/notes.txt").read_text() == "from the keeper"
    assert infos["mle_engineer"]["loss"] == pytest.approx(start)
    assert rewards["harness_keeper"] == pytest.approx(-1.5 * gain)
    assert terminations == {"mle_engineer": False, "harness_keeper": True} and env.agents == ["mle_engineer"]

    obs, rewards, terminations, truncations, infos = env.step({"mle_engineer": {"op": "submit"}})
    assert terminations == {"mle_engineer": True} and env.agents == []
    assert "private_loss" in infos["mle_engineer"] and "Episode over" in obs["mle_engineer"]["text"]
    assert env.step({}) == ({}, {}, {}, {}, {})

    records = read_log(env)
    assert [r["step"] for r in records] == [0, 1, 2, 3] and {r["env_id"] for r in records} == {factory.ENV_ID}
    assert records[0]["roles"] == infos["mle_engineer"]["roles"] and records[0]["team_weight"] == 0.5
    assert records[1]["conflicts"] == [conflict]
    assert [(op["agent"], op["ok"]) for op in records[1]["ops"]] == [
        ("mle_engineer", True), ("mle_engineer", False), ("mle_engineer", True),
        ("harness_keeper", True), ("harness_keeper", False), ("harness_keeper", True)]
    assert records[2]["ops"][0]["wrote"] == ["tasks/wine"]
    assert records[-1]["terminated"] and records[-1]["private_loss"] is not None
    assert records[-1]["agent"] == "team" and records[-1]["model"] == "m0"
    assert records[-1]["team_return"] == pytest.approx(sum(r["team_reward"] for r in records))
    assert sum(r["reward"] for r in records) == pytest.approx(records[0]["loss"] - records[-1]["loss"])
    parts = gain_by_role(records)
    assert sum(parts.values()) == pytest.approx(records[0]["loss"] - records[-1]["loss"], abs=1e-12)
    # step 1's gain is shared by the two roles that wrote wine's inputs (the keeper wrote weights/,
    # which every solution reads); step 2's loss is the engineer's revert alone
    assert parts["harness_keeper"] == pytest.approx(gain / 2) and parts["mle_engineer"] == pytest.approx(gain / 2 - gain)


def test_team_weight_scales_the_shared_part_and_a_role_without_tasks_earns_only_that(make_factory):
    roles = (Role("mle_engineer", categories=("mle",)), Role("librarian", folders=("lib",)))
    env = make_factory(iterations=2, team_weight=0.25, roles=roles, render_mode="ansi")
    _, infos = env.reset(seed=0)
    start = infos["librarian"]["suite_loss"]
    _, rewards, *_, infos = env.step({"mle_engineer": write_config("wine", WINE_SCALED), "librarian": {"op": "evaluate"}})
    gain = start - infos["librarian"]["suite_loss"]
    assert gain > 0.1 and infos["librarian"]["loss"] == 0.0
    assert rewards["librarian"] == pytest.approx(0.25 * gain)
    assert rewards["mle_engineer"] == pytest.approx(1.25 * gain)
    assert infos["mle_engineer"]["reward_parts"] == pytest.approx({"own": gain, "team": 0.25 * gain})
    assert "mle_engineer: write tasks/wine/config.json: ok" in env.render()


def test_an_episode_with_each_role_driven_by_a_baseline(make_factory):
    env = make_factory(iterations=4)
    team = make_team(env, {"mle_engineer": "greedy", "harness_keeper": "random"}, seed=0)
    returns = play_team_episode(env, team, seed=0)
    records = read_log(env)
    assert env.agents == [] and records[-1]["private_loss"] is not None
    suite_gain = records[0]["loss"] - records[-1]["loss"]
    assert suite_gain > 0  # greedy kept the wine edits that helped
    # the engineer's own loss is the suite loss here; it played to the end, so its return telescopes
    assert returns["mle_engineer"] == pytest.approx(1.5 * suite_gain)
    parts = gain_by_role(records)
    assert parts["mle_engineer"] == pytest.approx(suite_gain) and parts["harness_keeper"] == 0.0
    edits = [op for r in records for op in r["ops"] if op["agent"] == "mle_engineer" and op["op"] == "write"]
    assert edits and all(op["path"] == "tasks/wine/config.json" and op["ok"] for op in edits)
    from rsigym.analysis.leaderboard import leaderboard
    from rsigym.analysis.runlog import load_runs

    (entry,) = leaderboard(load_runs([env.core.run_dir]))  # the leaderboard credits the roles too
    assert entry.roles["mle_engineer"] == pytest.approx(suite_gain) and entry.roles["harness_keeper"] == 0.0


def test_step_before_reset_is_an_error_and_resume_is_refused(make_factory):
    env = make_factory()
    with pytest.raises(ResetNeeded):
        env.step({"mle_engineer": {"op": "evaluate"}})
    with pytest.raises(ValueError, match="cannot resume"):
        env.reset(options={"resume": True})


# The cheapest task of every category (docs/performance.md): all five roles have work.
EVERY_CATEGORY = ["synthlang", "addition", "kernel-bias-gelu", "diabetes"]
RIDGE_DIABETES = {"kind": "regression", "model": "ridge", "scale": True, "params": {"alpha": 3.0}}


def test_all_five_roles_on_a_suite_of_every_category(make_factory):
    env = make_factory(suite=("toy", "kernels", "pretrain", "posttrain"), tasks=EVERY_CATEGORY, iterations=4)
    _, infos = env.reset(seed=0)
    assert env.agents == ["pretrainer", "posttrainer", "kernel_engineer", "mle_engineer", "harness_keeper"]
    assert {name: info["roles"][name]["tasks"] for name, info in infos.items()} == {
        "pretrainer": ["synthlang"], "posttrainer": ["addition"], "kernel_engineer": ["kernel-bias-gelu"],
        "mle_engineer": ["diabetes"], "harness_keeper": []}
    start = {name: info["loss"] for name, info in infos.items()}
    workspace = env.core.workspace_dir
    starter_memory = (workspace / "harness/memory.md").read_text()

    # every role writes into the next role's region (refused, naming the owner); two also edit their own
    trespass = {"pretrainer": "tasks/addition/x.py", "posttrainer": "tasks/kernel-bias-gelu/x.py",
                "kernel_engineer": "tasks/diabetes/x.py", "mle_engineer": "lib/x.py", "harness_keeper": "tasks/synthlang/x.py"}
    owners = {"tasks/addition/x.py": "posttrainer", "tasks/kernel-bias-gelu/x.py": "kernel_engineer",
              "tasks/diabetes/x.py": "mle_engineer", "lib/x.py": "harness_keeper", "tasks/synthlang/x.py": "pretrainer"}
    actions = {name: [{"op": "write", "path": path, "content": "x = 1\n"}] for name, path in trespass.items()}
    actions["mle_engineer"].append(write_config("diabetes", RIDGE_DIABETES))
    actions["harness_keeper"].append({"op": "write", "path": "harness/memory.md", "content": "# Memory\nridge helps\n"})
    _, rewards, _, _, infos = env.step(actions)
    for name, path in trespass.items():
        refused = infos[name]["ops"][0]
        assert not refused["ok"] and f"belongs to {owners[path]}" in refused["error"] and not (workspace / path).exists()
    suite_gain = start["harness_keeper"] - infos["harness_keeper"]["loss"]
    diabetes_gain = start["mle_engineer"] - infos["mle_engineer"]["loss"]
    assert diabetes_gain > 0.1 and suite_gain == pytest.approx(diabetes_gain / 3.5)  # weights 1, 1, 0.5, 1
    for name in ("pretrainer", "posttrainer", "kernel_engineer"):  # their own tasks did not change
        assert infos[name]["loss"] == start[name] and rewards[name] == pytest.approx(0.5 * suite_gain)
    assert rewards["mle_engineer"] == pytest.approx(diabetes_gain + 0.5 * suite_gain)
    assert rewards["harness_keeper"] == pytest.approx(1.5 * suite_gain)

    # the keeper's revert restores harness/ and lib/ only; three roles leave the game
    obs, rewards, terminations, _, infos = env.step({
        "harness_keeper": {"op": "revert", "iteration": 0},
        **{name: {"op": "submit"} for name in ("pretrainer", "posttrainer", "kernel_engineer")}})
    assert (workspace / "harness/memory.md").read_text() == starter_memory
    assert json.loads((workspace / "tasks/diabetes/config.json").read_text()) == RIDGE_DIABETES
    assert infos["harness_keeper"]["ops"][0]["ok"] and "harness, lib restored to iteration 0" in obs["harness_keeper"]["text"]
    assert env.agents == ["mle_engineer", "harness_keeper"] and sum(terminations.values()) == 3

    _, _, terminations, _, infos = env.step({"mle_engineer": {"op": "submit"}, "harness_keeper": {"op": "submit"}})
    assert all(terminations.values()) and env.agents == [] and "private_loss" in infos["mle_engineer"]
    records = read_log(env)
    assert {op["agent"] for op in records[1]["ops"]} == set(trespass)
    (revert,) = [op for op in records[2]["ops"] if op["agent"] == "harness_keeper"]
    assert revert["op"] == "revert" and revert["wrote"] == ["harness", "lib"]
    parts = gain_by_role(records)
    assert parts["mle_engineer"] == pytest.approx(records[0]["loss"] - records[-1]["loss"], abs=1e-12)
    assert sum(r["reward"] for r in records) == pytest.approx(records[0]["loss"] - records[-1]["loss"], abs=1e-12)


def test_every_core_keyword_argument_passes_through(make_factory):
    env = make_factory(iterations=2, step_cost=0.125, backend="local", ray_address=None)
    assert env.core.step_cost == 0.125
    env.reset(seed=0)
    _, rewards, *_ = env.step({"harness_keeper": {"op": "read", "path": "harness/memory.md"}})
    assert rewards == pytest.approx({"mle_engineer": -0.0625, "harness_keeper": -0.0625})  # λ x the step cost
    with pytest.raises(TypeError, match="sets"):
        factory.parallel_env(suite="toy", tasks=["wine"], auto_evaluate=True)
    with pytest.raises(TypeError):
        factory.parallel_env(suite="toy", tasks=["wine"], no_such_argument=1)
