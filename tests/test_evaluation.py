"""Incremental evaluation: an edit re-grades exactly the tasks whose inputs changed, and a
cached grade is never served for inputs that differ from those it was earned on."""
from __future__ import annotations

import json
import random

import pytest

from rsigym import evaluation
from tests.conftest import HIDDEN_READ, STRONG_DIGITS, write_config

# A digits solution that reads a switch from weights/ and a helper from lib/: the loss tells
# which versions of those files the run saw.
DIGITS_WITH_INPUTS = """
import json, os
from pathlib import Path
import tabular
import digits_helper
switch = Path(os.environ["RSI_WEIGHTS_DIR"], "switch.txt").read_text().strip()
config = json.loads(Path("config.json").read_text())
if switch == "strong" and digits_helper.STRONG:
    config = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}
tabular.solve(config)
"""


def _write(path: str, content: str) -> dict:
    return {"op": "write", "path": path, "content": content}


def _ran(env, action) -> set[str]:
    """Tasks the step graded afresh (not from the cache); none when it evaluated nothing."""
    _, _, _, _, info = env.step(action)
    cached = env.unwrapped.stats()["cached"]
    return {task for task, hit in cached.items() if not hit} if info["evaluated"] else set()


@pytest.fixture
def env(make_env):
    env = make_env(shared_cache=False, iterations=30)
    env.reset(seed=0)
    return env


def test_editing_one_task_regrades_that_task_only(env):
    assert _ran(env, write_config("digits", STRONG_DIGITS)) == {"digits"}
    assert _ran(env, {"op": "evaluate"}) == set()


def test_shared_files_regrade_only_the_tasks_that_read_them(env):
    setup = [
        _write("lib/digits_helper.py", "STRONG = False\n"),
        _write("weights/switch.txt", "weak"),
        _write("tasks/digits/solution.py", DIGITS_WITH_INPUTS),
    ]
    assert _ran(env, setup) == {"digits", "wine"}  # new shared names: every task may see them
    weak = env.unwrapped.result.losses["digits"]
    assert _ran(env, _write("weights/switch.txt", "strong")) == {"digits"}  # wine never read it
    assert env.unwrapped.result.losses["digits"] == weak  # the helper still says no
    assert _ran(env, _write("lib/digits_helper.py", "STRONG = True\n")) == {"digits"}
    strong = env.unwrapped.result.losses["digits"]
    assert strong < weak
    assert _ran(env, _write("lib/tabular.py", (env.unwrapped.workspace_dir / "lib/tabular.py").read_text() + "\n# edited\n")) == {
        "digits", "wine"}  # both solutions import tabular
    assert _ran(env, _write("weights/switch.txt", "weak")) == {"digits"}
    assert env.unwrapped.result.losses["digits"] == weak  # not the cached strong grade


def test_reads_by_a_subprocess_are_tracked(env):
    reader = (
        "import os, subprocess, sys\n"
        "out = subprocess.run(['cat', os.path.join(os.environ['RSI_WEIGHTS_DIR'], 'flag')], capture_output=True, text=True).stdout\n"
        "sys.exit(out.strip() == 'fail')\n"
    )
    assert _ran(env, [_write("weights/flag", "ok"), _write("tasks/wine/solution.py", reader)]) == {"digits", "wine"}
    assert _ran(env, _write("weights/flag", "fail")) == {"wine"}
    assert env.unwrapped.result.results["wine"].grade.error.startswith("solution exited with code 1")


def test_without_access_times_every_shared_edit_regrades_everything(env, monkeypatch):
    monkeypatch.setattr(evaluation, "access_times_recorded", lambda folder: False)
    assert _ran(env, _write("weights/unused.txt", "a")) == {"digits", "wine"}
    assert _ran(env, _write("weights/unused.txt", "b")) == {"digits", "wine"}


def test_hidden_reads_cannot_carry_a_stale_grade_to_the_final_score(env):
    """A solution that resets the access time of what it read gets its stale grade back for
    the public split only; the episode's final score re-grades on the whole input."""
    env.step([_write("weights/flag", "ok"), _write("tasks/wine/solution.py", HIDDEN_READ)])
    good = env.unwrapped.result.losses["wine"]
    assert _ran(env, _write("weights/flag", "fail")) == set()  # fooled: served by its (empty) read set
    assert env.unwrapped.result.losses["wine"] == good
    _, _, terminated, _, info = env.step({"op": "submit"})
    assert terminated
    assert env.unwrapped.result.losses["wine"] == 2.0  # the exact re-grade ran the current flag
    assert info["private_loss"] == env.unwrapped.result.private_loss


def test_random_edits_never_serve_a_stale_grade(make_env):
    """Every evaluation of the incremental env equals a fresh, cache-less grading."""
    rng = random.Random(0)
    env = make_env(shared_cache=False, iterations=30)
    env.reset(seed=0)
    env.step([_write("lib/digits_helper.py", "STRONG = True\n"), _write("weights/switch.txt", "weak"),
              _write("tasks/digits/solution.py", DIGITS_WITH_INPUTS)])
    edits = [
        lambda: _write("weights/switch.txt", rng.choice(["weak", "strong"])),
        lambda: _write("lib/digits_helper.py", f"STRONG = {rng.choice([True, False])}\n"),
        lambda: write_config("wine", {"kind": "classification", "model": rng.choice(["gaussian_nb", "logistic"])}),
        lambda: _write(f"weights/other{rng.randint(0, 1)}.bin", str(rng.random())),
    ]
    unwrapped = env.unwrapped
    for _ in range(6):
        env.step(rng.choice(edits)())
        fresh = evaluation.Evaluator(unwrapped.tasks, unwrapped.sandbox, unwrapped.evaluator.weights, cache={})
        expected = fresh.evaluate(unwrapped.workspace_dir, unwrapped.data_root, unwrapped.private_root,
                                  unwrapped.data_seed, unwrapped.scale)
        assert unwrapped.result.losses == expected.losses


def test_parallel_grading_gives_the_same_grades(make_env):
    """workers=2 grades independent tasks in parallel threads; grades match the sequential ones."""
    losses = []
    for workers in (1, 2):
        env = make_env(shared_cache=False, workers=workers)
        env.reset(seed=3)
        losses.append(env.unwrapped.result.losses)
        assert env.unwrapped.evaluator.misses == 2
    assert losses[0] == losses[1]


def test_text_env_runs_as_async_vector_env():
    """Parallel episodes: the text env in AsyncVectorEnv, stepped like the in-process
    SyncVectorEnv and giving the same observations. Gymnasium's shared memory reads Text
    observations once, when the vector env is built, so text envs pass shared_memory=False."""
    import gymnasium as gym

    action = write_config("digits", STRONG_DIGITS)
    outcomes = []
    for mode in ("async", "sync"):
        envs = gym.make_vec("RSI-MLE-v0", suite="toy", num_envs=2, vectorization_mode=mode, tasks=["digits", "wine"],
                            iterations=3,
                            vector_kwargs={"shared_memory": False} if mode == "async" else {})
        try:
            envs.reset(seed=0)
            obs, rewards, _, _, _ = envs.step((json.dumps(action), json.dumps(action)))
            assert all("| digits |" in text for text in obs["text"])
            outcomes.append((obs["losses"].tolist(), rewards.tolist(), list(obs["text"])))
        finally:
            envs.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][0] != outcomes[0][0][1]  # env i is seeded 0 + i: two task instances


@pytest.mark.docker
def test_reads_inside_containers_are_tracked(make_env):
    """Reads in a container update the access times of the bind-mounted copy too."""
    from tests.sandbox.conftest import docker_or_skip

    env = make_env(shared_cache=False, sandbox=docker_or_skip(), iterations=5)
    env.reset(seed=0)
    setup = [_write("lib/digits_helper.py", "STRONG = False\n"), _write("weights/switch.txt", "weak"),
             _write("tasks/digits/solution.py", DIGITS_WITH_INPUTS)]
    assert _ran(env, setup) == {"digits", "wine"}
    assert _ran(env, _write("weights/switch.txt", "strong")) == {"digits"}
    assert env.unwrapped.result.results["digits"].files_read == ("lib/digits_helper.py", "lib/tabular.py",
                                                               "weights/switch.txt")


def test_a_resumed_run_reuses_the_grades_on_disk(make_env, tmp_path, monkeypatch):
    """load_run in a new process (an empty in-memory cache) grades nothing already graded."""
    from rsigym.env import load_run

    make_env().reset(seed=0)  # another env of this process grades the starter first
    env = make_env(run_dir=tmp_path / "run")
    env.reset(seed=0)
    env.step(write_config("digits", STRONG_DIGITS))
    losses = env.unwrapped.result.losses
    monkeypatch.setattr(evaluation, "SHARED_CACHE", evaluation.GradeCache())
    monkeypatch.setattr("rsigym.env.SHARED_CACHE", evaluation.SHARED_CACHE)
    resumed, _, _ = load_run(tmp_path / "run")
    try:
        assert resumed.unwrapped.evaluator.misses == 0
        assert resumed.unwrapped.result.losses == losses
        assert resumed.unwrapped.result.results["digits"].grade == env.unwrapped.result.results["digits"].grade
        assert _ran(resumed, write_config("digits", {"kind": "classification", "model": "logistic"})) == {"digits"}
    finally:
        resumed.close()


def test_grade_files_from_other_grading_code_are_not_used(tmp_path):
    from rsigym.gradestore import GradeStore
    from rsigym.tasks import Grade, TaskResult

    result = TaskResult("t", Grade(True, 0.5, 0.4, details={"x": (1, 2)}), 0.3, 0.2, 1.0, files_read=("lib/a.py",))
    key = b"k" * 32
    GradeStore(tmp_path, {}, salt="v1", key=key)["k"] = result
    assert GradeStore(tmp_path, {}, salt="v1", key=key)["k"] == result._replace(grade=result.grade._replace(details={"x": [1, 2]}))
    with pytest.raises(KeyError):
        GradeStore(tmp_path, {}, salt="v2", key=key)["k"]
