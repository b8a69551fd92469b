"""Red team, round 2: attacks played against the main that closed issue 14's eight.

Each test plays one attack through the public API (``gym.make`` with default arguments on a
small task subset, or the factory) and checks that it gains nothing. Where the attack still
works and the fix is a design change, the test is ``xfail(strict=True)``: it fails the day the
attack stops working, so the list and the code cannot drift apart.
"""
from __future__ import annotations

import io

import pandas as pd
import pytest

# A solution that submits the predictions the policy wrote next to it: no model at all.
REPLAY_SOLUTION = """\
import os
import shutil

shutil.copy("preds.csv", os.path.join(os.environ["RSI_OUTPUT_DIR"], "submission.csv"))
"""


def _submit_predictions(env, task_id: str, predictions: pd.DataFrame):
    """One step that makes ``task_id``'s solution submit exactly ``predictions``."""
    return env.step([
        {"op": "write", "path": f"tasks/{task_id}/solution.py", "content": REPLAY_SOLUTION},
        {"op": "write", "path": f"tasks/{task_id}/preds.csv", "content": predictions.to_csv(index=False)},
    ])


# -- the validity of a grade must not tell which test rows are private ---------------------------
def test_the_validity_of_a_grade_does_not_reveal_the_private_split(make_env):
    """Two predictions of 1e154 overflow the squared error sum only together. Judged per split,
    the grade was invalid exactly when both rows were in the same split: one evaluation, one
    bit of the secret split (8 of 8 pairs told apart on diabetes, seed 5)."""
    env = make_env(tasks=["diabetes"])
    env.reset(seed=5)
    run_dir = env.unwrapped.run_dir
    ids = pd.read_csv(run_dir / "data/diabetes/test.csv")["id"].tolist()
    split = pd.read_csv(run_dir / "private/diabetes/labels.csv").set_index("id")["split"]  # to pick the pairs only
    anchor = ids[0]
    same = next(i for i in ids[1:] if split[i] == split[anchor])
    other = next(i for i in ids[1:] if split[i] != split[anchor])

    validity = {}
    for label, partner in (("same split", same), ("different splits", other)):
        predictions = pd.DataFrame({"id": ids, "target": 150.0})
        predictions.loc[predictions["id"].isin([anchor, partner]), "target"] = 1.0e154
        _, _, _, _, info = _submit_predictions(env, "diabetes", predictions)
        validity[label] = info["valid"]["diabetes"]
    assert validity["same split"] == validity["different splits"], validity  # old code: False vs True
    assert validity["same split"] is False  # absurd predictions stay invalid


# -- step() must not raise in the factory either ------------------------------------------------
def test_the_factory_contains_a_deeply_nested_python_action(tmp_path):
    """Actions may be Python lists and dicts. An op name nested 5000 lists deep made the error
    message's ``repr`` raise RecursionError; the single-agent env caught it at its boundary, the
    factory's step() raised."""
    from rsigym.envs import factory

    nested: list = []
    for _ in range(5000):
        nested = [nested]
    deep_key: tuple = ()
    for _ in range(5000):
        deep_key = (deep_key,)
    env = factory.parallel_env(suite="toy", tasks=["wine"], iterations=3, run_dir=tmp_path / "factory")
    try:
        env.reset(seed=0)
        role = env.agents[0]
        for action in ({"op": nested}, {"op": "write", "path": "notes.md", "content": "x", deep_key: 1}):
            observations, rewards, _, _, infos = env.step({role: action})  # old code: RecursionError
            assert rewards[role] == 0.0
            errors = [entry["error"] for entry in infos[role]["ops"] if not entry["ok"]]
            assert errors and ("unknown op" in errors[0] or "has no field" in errors[0]), errors
    finally:
        env.close()


# -- reward without a better model: probing the public split ------------------------------------
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "public-split probing: the public loss is fed back exactly after every iteration, so flipping "
    "predictions and keeping the flips that lower it buys reward with no model (wine, seed 5: "
    "+0.10 reward while the private loss rose 0.95 -> 1.05). Closing it needs a design change to "
    "the feedback (e.g. a ladder-style leaderboard that reports a new public loss only when it "
    "beats the best by more than a threshold, rounded), not a local fix"))
def test_probing_the_public_split_earns_no_reward(make_env):
    env = make_env(tasks=["wine"])  # default budget: 20 iterations
    _, info = env.reset(seed=5)
    starter_private = env.unwrapped.result.private_loss
    total = 0.0
    # The starter's own predictions, from a run op (no iteration spent).
    run = ("mkdir -p tasks/wine/o && cd tasks/wine && RSI_DATA_DIR=$RSI_DATA_ROOT/wine RSI_OUTPUT_DIR=$PWD/o "
           "RSI_WEIGHTS_DIR=$PWD/../../weights python solution.py")
    _, reward, _, _, info = env.step({"op": "run", "cmd": run, "keep": ["tasks/wine/o/submission.csv"]})
    total += reward
    csv = env.unwrapped.workspace.read("tasks/wine/o/submission.csv", max_chars=10**7)
    best = pd.read_csv(io.StringIO(csv))
    classes = sorted(best["target"].unique())
    _, reward, terminated, truncated, info = _submit_predictions(env, "wine", best)
    total += reward
    best_loss, done, row = info["loss"], terminated or truncated, 0
    while not done:
        if info["budget"]["iterations_left"] == 1:  # end on the best flips found
            trial = best
        else:  # flip two rows to the next class; keep the flip if the public loss fell
            trial = best.copy()
            rows = [row, row + 1]
            row = (row + 2) % (len(best) - 1)
            trial.loc[rows, "target"] = [classes[(classes.index(v) + 1) % len(classes)] for v in trial.loc[rows, "target"]]
        _, reward, terminated, truncated, info = _submit_predictions(env, "wine", trial)
        total += reward
        done = terminated or truncated
        if info["loss"] < best_loss:
            best, best_loss = trial, info["loss"]
    print(f"probing: rewards {total:+.4f}; private loss {starter_private:.4f} -> {info['private_loss']:.4f}")
    assert total <= 1e-9  # no model changed; the reward should not have risen


# -- reward without a better model: the policy brings the public dataset itself ------------------
@pytest.mark.xfail(strict=True, reason=(
    "digits, wine, breast-cancer and diabetes test rows are unchanged rows of famous public "
    "datasets: hiding scikit-learn's copies from the sandbox stops a solution from finding them, "
    "not a policy that knows them (memorised by a language model, or fetched by an agent in "
    "`rsigym shell --network`). Wine, seed 5: one write, +1.24 reward, private loss 0.95 -> -0.09. "
    "Closing it needs test data no outside copy matches (generated data, or features "
    "transformed beyond alignment by the instance secret), and a recalibration"))
def test_a_policy_that_knows_the_public_dataset_earns_no_reward(make_env):
    from sklearn.datasets import load_wine  # the policy's side of the boundary, not the sandbox's

    table = load_wine(as_frame=True).frame.to_csv(index=False)
    lookup_solution = (
        "import io, os\nimport pandas as pd\n"
        f"known = pd.read_csv(io.StringIO({table!r}))\n"
        "known.columns = [c.replace('/', '_') for c in known.columns]\n"
        "test = pd.read_csv(os.path.join(os.environ['RSI_DATA_DIR'], 'test.csv'))\n"
        "features = [c for c in test.columns if c != 'id']\n"
        "key = lambda f: f.round(4).astype(str).agg('|'.join, axis=1)\n"
        "lookup = dict(zip(key(known[features]), known['target']))\n"
        "guess = [lookup.get(k, 0) for k in key(test[features])]\n"
        "pd.DataFrame({'id': test['id'], 'target': guess}).to_csv(\n"
        "    os.path.join(os.environ['RSI_OUTPUT_DIR'], 'submission.csv'), index=False)\n"
    )
    env = make_env(tasks=["wine"])
    _, info = env.reset(seed=5)
    starter_loss, starter_private = info["loss"], env.unwrapped.result.private_loss
    _, reward, terminated, _, info = env.step([{"op": "write", "path": "tasks/wine/solution.py", "content": lookup_solution},
                                               {"op": "submit"}])
    assert terminated and info["valid"]["wine"]
    print(f"outside lookup: public {starter_loss:.4f} -> {info['loss']:.4f}, reward {reward:+.4f}, "
          f"private {starter_private:.4f} -> {info['private_loss']:.4f}")
    assert reward <= 1e-9  # a table lookup is no better model


# -- external mode: one malformed request must not stop the grading server ----------------------
def test_a_malformed_request_does_not_stop_the_grading_server(tmp_path):
    """The socket took any JSON: a list made the server thread die with AttributeError, and
    every later ``rsigym evaluate`` of the agent waited forever."""
    import json
    import subprocess
    import sys

    from rsigym.sandbox.local import confinement_available

    if not confinement_available():
        pytest.skip("rsigym shell needs root and unshare")
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "rsigym.cli"]
    init = subprocess.run([*cli, "workspace", "init", str(run), "--suite", "toy", "--tasks", "wine", "--iterations", "3"],
                          capture_output=True, text=True, timeout=600)
    assert init.returncode == 0, init.stderr
    poke = ("import socket, shutil, pathlib; s = socket.socket(socket.AF_UNIX); "
            "s.connect(str(pathlib.Path(shutil.which('rsigym')).parent.parent / 'rsigym.sock')); "
            "s.sendall(b'[]\\n'); print('reply', s.recv(300))")
    script = f'python3 -c "{poke}"; echo "# edited" >> tasks/wine/solution.py; timeout 120 rsigym evaluate'
    done = subprocess.run([*cli, "shell", str(run), "--", "sh", "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr  # old code: 124, the evaluate timed out
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[-1]["iteration"] == 1


# -- an infrastructure failure must not turn into reward ------------------------------------------
def _sandbox_that_fails_to_start(times: int = 3):
    """The real local sandbox, except that its first ``times`` solution runs fail to start, with
    the result the sandbox itself gives when a host hiccup stops it (fault injection). Three
    failures outlast the env's default retries (``infra_retries=2``)."""
    from rsigym.sandbox.base import ExecResult
    from rsigym.sandbox.local import LocalSandbox

    class FailsToStart(LocalSandbox):
        failures_left = times

        def run(self, command, *args, **kwargs):
            if self.failures_left and "solution" in str(command):
                self.failures_left -= 1
                return ExecResult(126, "", "sandbox setup failed: injected host hiccup", 0.0, False, "start failed")
            return super().run(command, *args, **kwargs)

    return FailsToStart()


def test_a_run_the_sandbox_could_not_start_is_not_cached_or_paid(make_env):
    """Graded as the starter's own failure, a host hiccup at reset set L0 = 2 for wine and was
    cached (in memory and signed on disk): a note in the task folder then earned +0.84, and every
    later episode on that seed started at 2 again, on a healthy host, for the same free reward."""
    env = make_env(tasks=["wine"], sandbox=_sandbox_that_fails_to_start())
    seed = 91731  # a seed no other test grades: the process-wide grade cache must not know the starter
    with pytest.raises(RuntimeError, match="could not start"):  # old code: reset went on with loss 2
        env.reset(seed=seed)
    _, info = env.reset(seed=seed)  # the host is fine again: the starter is run, not served the failure
    assert info["valid"]["wine"] and info["loss"] < 2.0
    _, reward, _, _, info = env.step({"op": "write", "path": "tasks/wine/notes.md", "content": "no model change\n"})
    assert reward == pytest.approx(0.0, abs=1e-9)


def test_a_failed_start_during_an_episode_is_run_again_not_served(make_env):
    env = make_env(tasks=["wine"])
    _, info = env.reset(seed=5)
    starter_loss = info["loss"]
    env.unwrapped.sandbox = env.unwrapped.evaluator.sandbox = _sandbox_that_fails_to_start()
    # a note no other test writes: the process-wide grade cache must not already know this tree
    note = {"op": "write", "path": "tasks/wine/notes.md", "content": "a failed start during an episode\n"}
    _, failed, _, _, info = env.step(note)  # an infrastructure failure: masked, not graded 2
    assert info["infra_error"] and info["losses"]["wine"] == pytest.approx(starter_loss) and failed == 0.0
    assert info["iteration"] == 0
    _, recovered, _, _, info = env.step([{**note, "content": "still none\n"}])
    assert "infra_error" not in info and info["iteration"] == 1
    assert info["loss"] == pytest.approx(starter_loss) and failed + recovered == pytest.approx(0.0, abs=1e-9)
    env.step({"op": "revert", "iteration": 0})  # the failure was never cached: the starter's real grade is served
    assert env.unwrapped.result.losses["wine"] == pytest.approx(starter_loss)
