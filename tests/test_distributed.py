"""The Ray backend (rsigym.backends.ray): episodes as Ray tasks, grading on Ray actors, a two-node
Ray cluster started on this machine (RLlib's PPO: tests/ecosystem/test_rllib.py)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import pytest

from rsigym import cli
from rsigym.backends import ray as ray_backend
from rsigym.agents import make_agent
from rsigym.analysis.runlog import load_runs
from rsigym.cli import build_parser
from rsigym.backends.ray import RayEvaluator, connect, run_episodes
from rsigym.evaluation import Evaluator
from rsigym.runlog import read_log
from tests.conftest import FAST_TASKS, STRONG_DIGITS, write_config

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the Ray backend needs Ray: pip install 'rsigym[ray]'")

RAY_CLI = str(Path(sys.executable).with_name("ray"))  # the `ray` of this environment, not another on PATH


@pytest.fixture
def local_ray():
    """A private local Ray instance with 2 CPUs, shut down afterwards so the next test starts clean."""
    connect(num_cpus=2)
    yield
    ray.shutdown()


def local_episode(seed: int, env_kwargs: dict, iterations: int, run_dir: Path) -> tuple[list[float], float]:
    """The reference: the same greedy episode played in this process (public loss of every record, private loss)."""
    env = gym.make("RSI-MLE-v0", **env_kwargs, iterations=iterations, run_dir=run_dir)
    try:
        agent = make_agent("greedy", env, seed=seed)
        obs, info = env.reset(seed=seed)
        agent.reset(obs, info)
        losses, done = [info["loss"]], False
        while not done:
            obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
            losses.append(info["loss"])
            done = terminated or truncated
    finally:
        env.close()
    return losses, info["private_loss"]


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"pip install 'rsigym\[ray\]'"):
        connect()


def test_cli_parses_the_distributed_command():
    args = build_parser().parse_args(
        ["distributed", "--address", "10.0.0.1:6379", "--seeds", "0", "1", "2", "--agent", "greedy",
         "--iterations", "3", "--out", "somewhere", "RSI-MLE-v0"])
    assert args.func is cli.cmd_distributed
    assert (args.address, args.seeds, args.iterations, args.out, args.env_id) == (
        "10.0.0.1:6379", [0, 1, 2], 3, "somewhere", "RSI-MLE-v0")


def test_stale_grader_scratch_is_removed_and_live_scratch_kept(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{ray_backend.SCRATCH_PREFIX}{finished.stdout.strip()}-abc"
    live = tmp_path / f"{ray_backend.SCRATCH_PREFIX}{os.getpid()}-abc"
    other = tmp_path / "rsigym-run-123-abc"
    for folder in (dead, live, other):
        (folder / "data").mkdir(parents=True)
    ray_backend.remove_stale_scratch(tmp_path)
    assert (dead.exists(), live.exists(), other.exists()) == (False, True, True)


def test_run_episodes_match_the_same_episodes_run_in_process(local_ray, tmp_path):
    kwargs = {"tasks": FAST_TASKS, "shared_cache": False, "suite": "toy"}
    out = tmp_path / "runs"
    results = run_episodes("RSI-MLE-v0", "greedy", [0, 1], kwargs, iterations=2, out=out)

    assert [r.seed for r in results] == [0, 1]
    nodes = {node["NodeID"] for node in ray.nodes()}
    for result in results:
        assert result.node_id in nodes
        losses, private = local_episode(result.seed, kwargs, 2, tmp_path / f"local{result.seed}")
        assert [record["loss"] for record in result.records] == losses
        assert (result.loss, result.private_loss) == (losses[-1], private)
        assert result.records[-1]["truncated"] or result.records[-1]["terminated"]
        assert {record["seed"] for record in result.records} == {result.seed}
        # the driver-side copy is the run log itself, and the analysis reads it as a finished episode
        assert list(read_log(out / result.run_id / "log.jsonl")) == result.records
    runs = sorted(load_runs([out]), key=lambda run: run.seed)
    assert [(run.seed, run.agent, run.complete, run.private_loss) for run in runs] == [
        (r.seed, "greedy", True, r.private_loss) for r in results]


def test_ray_evaluator_grades_like_the_local_evaluator(local_ray, make_env):
    # a workspace with an edit: digits gets a stronger model than the starter's
    env = make_env(iterations=3, shared_cache=False)
    _, start = env.reset(seed=3)
    _, _, _, _, info = env.step(write_config("digits", STRONG_DIGITS))
    assert info["losses"]["digits"] < start["losses"]["digits"]
    base = env.unwrapped
    weights = {task.id: task.spec.weight for task in base.tasks}
    where = (base.workspace_dir, base.data_root, base.private_root, 3, "ci")

    local = Evaluator(base.tasks, base.sandbox, weights, cache={}).evaluate(*where)
    remote_evaluator = RayEvaluator(base.tasks, base.sandbox, weights, workers=2, cache={})
    try:
        remote = remote_evaluator.evaluate(*where)
        again = remote_evaluator.evaluate(*where)
    finally:
        remote_evaluator.close()
    assert remote.losses == local.losses and remote.private_losses == local.private_losses
    assert (remote.loss, remote.private_loss) == (local.loss, local.private_loss)
    assert {k: r.files_read for k, r in remote.results.items()} == {k: r.files_read for k, r in local.results.items()}
    assert not any(r.cached for r in remote.results.values())
    assert set(remote_evaluator.graded_on) == set(FAST_TASKS)
    # the base class's cache still serves an unchanged workspace: nothing is sent out again
    assert all(r.cached for r in again.results.values()) and again.losses == local.losses
    assert (remote_evaluator.misses, remote_evaluator.hits) == (2, 2)


def test_env_with_ray_backend_grades_on_ray(local_ray, make_env):
    local, remote = make_env(iterations=2, shared_cache=False), make_env(iterations=2, shared_cache=False, backend="ray")
    assert isinstance(remote.unwrapped.evaluator, RayEvaluator)
    infos = []
    for env in (local, remote):
        env.reset(seed=5)
        infos.append(env.step(write_config("digits", STRONG_DIGITS))[-1])
    assert infos[1]["losses"] == infos[0]["losses"]
    evaluator = remote.unwrapped.evaluator
    assert (evaluator.misses, evaluator.hits) == (3, 1)  # reset: both tasks; the edit: digits alone
    assert set(evaluator.graded_on) == set(FAST_TASKS)
    evaluator.close()  # env.close() leaves the evaluator alone; this frees the grader's CPU and data now
    with pytest.raises(ValueError, match="backend"):
        make_env(backend="spark")


# -- a two-node cluster on this machine ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs if log.exists())
    raise TimeoutError(f"{what} within {timeout:.0f} s\n{tails}")


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop one `ray start --block` we started: SIGTERM lets it drain and end its node's processes;
    then SIGKILL whatever is left in its own process group (only processes of that node)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture
def two_nodes(monkeypatch):
    """A Ray head and a worker node (custom resource ``rsigym_worker``) on this machine, one CPU each.

    Each node is a `ray start --block` in its own process group, stopped by its process id at the
    end. (`ray stop --force` is not used: it would kill every Ray process of this machine, other
    sessions' included.) Ray 2.x clusters use token authentication: the nodes and this driver
    share the token of ``~/.ray/auth_token``, created if missing.
    """
    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    subprocess.run([RAY_CLI, "get-auth-token", "--generate"], capture_output=True)  # older Ray: no such command, no auth
    temp_dir = Path(tempfile.mkdtemp(prefix="rsigym-ray-"))  # short: Ray's socket paths live under it
    port = _free_port()
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}", "--disable-usage-stats", "--block"]
    logs = [temp_dir / "head.log", temp_dir / "worker.log"]
    processes: list[subprocess.Popen] = []

    def start(args: list[str], log: Path) -> None:
        with log.open("w") as handle:
            processes.append(subprocess.Popen([RAY_CLI, "start", *args, *common], stdout=handle,
                                              stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start(["--head", f"--port={port}", f"--ray-client-server-port={_free_port()}", "--include-dashboard=false",
               f"--dashboard-agent-listen-port={_free_port()}"], logs[0])
        _wait(lambda: _port_open(port), 90, "the head node did not listen", logs)
        start([f"--address=127.0.0.1:{port}", "--resources=" + json.dumps({"rsigym_worker": 1}),
               f"--dashboard-agent-listen-port={_free_port()}"], logs[1])
        connect(f"127.0.0.1:{port}")
        _wait(lambda: sum(node["Alive"] for node in ray.nodes()) == 2, 90, "the worker node did not join", logs)
        alive = [node for node in ray.nodes() if node["Alive"]]
        worker = next(node["NodeID"] for node in alive if "rsigym_worker" in node["Resources"])
        head = next(node["NodeID"] for node in alive if node["NodeID"] != worker)
        yield {"address": f"127.0.0.1:{port}", "head": head, "worker": worker}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_two_node_cluster_runs_work_on_both_nodes(two_nodes, make_env):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    kwargs = {"tasks": ["wine"], "shared_cache": False, "suite": "toy"}
    on_worker = run_episodes("RSI-MLE-v0", "greedy", [0], kwargs, iterations=1, address=two_nodes["address"],
                             options={"resources": {"rsigym_worker": 1}})[0]
    on_head = run_episodes("RSI-MLE-v0", "greedy", [0], kwargs, iterations=1,
                           options={"scheduling_strategy": NodeAffinitySchedulingStrategy(two_nodes["head"], soft=False)})[0]
    assert on_worker.node_id == two_nodes["worker"] and on_head.node_id == two_nodes["head"]
    assert on_worker.node_id != on_head.node_id
    assert on_worker.loss == on_head.loss and on_worker.private_loss == on_head.private_loss  # same seed, same episode

    # grading on the worker node: the workspace travels as bytes, the data is built there from the seed
    env = make_env(iterations=1, shared_cache=False)
    _, info = env.reset(seed=0)
    base = env.unwrapped
    evaluator = RayEvaluator(base.tasks, base.sandbox, {t.id: t.spec.weight for t in base.tasks}, cache={},
                             options={"resources": {"rsigym_worker": 1}})
    try:
        result = evaluator.evaluate(base.workspace_dir, base.data_root, base.private_root, 0, "ci")
    finally:
        evaluator.close()
    assert set(evaluator.graded_on.values()) == {two_nodes["worker"]}
    assert result.losses == info["losses"]

