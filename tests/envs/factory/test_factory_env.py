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
