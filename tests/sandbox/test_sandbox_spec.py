"""A sandbox's configuration round-trips: ``make_sandbox(sandbox.spec()) == sandbox``, in this
process, in a fresh one, on resume (``load_run``) and on Ray workers, for the built-in
providers and a custom one; and the grade cache keys results by the whole configuration."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import rsigym.sandbox
from rsigym.env import load_run
from rsigym.evaluation import Evaluator
from rsigym.sandbox import LocalSandbox, make_sandbox, register_sandbox
from rsigym.sandbox.base import ExecResult
from tests.conftest import FAST_TASKS

REPO = Path(__file__).resolve().parents[2]


class MarkedSandbox(LocalSandbox):
    """A custom provider: a local sandbox with one setting of its own, ``marker_dir``, where each
    run leaves a note of the configuration (spec) and the process that ran it."""

    name = "marked"

    def __init__(self, marker_dir: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.marker_dir = marker_dir

    def settings(self) -> dict:
        return {**super().settings(), "marker_dir": self.marker_dir}

    def run(self, cmd, cwd, timeout, env=None, limits=None, readonly=(), workdir=".") -> ExecResult:
        if self.marker_dir:
            note = {"pid": os.getpid(), "spec": self.spec()}
            (Path(self.marker_dir) / f"{uuid.uuid4().hex}.json").write_text(json.dumps(note))
        return super().run(cmd, cwd, timeout, env=env, limits=limits, readonly=readonly, workdir=workdir)


def notes(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def docker_image_id_or_skip() -> tuple[type, str]:
    """``DockerSandbox`` and the id of the sandbox image, a name for it that is not the default one."""
    from tests.sandbox.conftest import docker_or_skip

    sandbox = docker_or_skip()
    return type(sandbox), sandbox.client.images.get(sandbox.image).id


def test_local_spec_is_json_and_rebuilds_an_equal_sandbox():
    sandbox = LocalSandbox(warm=False, tmp_bytes=64 * 1024**2, preload=("numpy",))
    spec = json.loads(json.dumps(sandbox.spec()))
    assert spec["provider"] == "local" and spec["settings"]["tmp_bytes"] == 64 * 1024**2
    rebuilt = make_sandbox(spec)
    assert rebuilt == sandbox and hash(rebuilt) == hash(sandbox) and rebuilt is not sandbox
    assert (rebuilt.warm, rebuilt.preload, rebuilt.mode) == (False, ("numpy",), sandbox.mode)
    assert LocalSandbox() != sandbox  # another configuration is another sandbox


def test_a_spec_keeps_the_mode_auto_chose():
    process = LocalSandbox(confine=False, isolate_network=False)
    rebuilt = make_sandbox(process.spec())
    assert (rebuilt.mode, rebuilt.isolate_network) == ("process", False) and rebuilt == process


def test_custom_provider_round_trips_registered_and_in_a_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setattr(rsigym.sandbox, "PROVIDERS", dict(rsigym.sandbox.PROVIDERS))  # registered for this test only
    register_sandbox("marked", MarkedSandbox)
    sandbox = make_sandbox("marked", marker_dir=str(tmp_path), warm=False)
    assert isinstance(sandbox, MarkedSandbox) and make_sandbox(sandbox.spec()) == sandbox
    # A process where nobody registered "marked" rebuilds it from the spec's entry point.
    script = ("import json, sys; from rsigym.sandbox import make_sandbox, PROVIDERS; assert 'marked' not in PROVIDERS; "
              "print(json.dumps(make_sandbox(json.loads(sys.argv[1])).spec()))")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(sandbox.spec())], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == sandbox.spec()


def test_unknown_provider_and_bad_specs_say_what_is_wrong():
    with pytest.raises(ValueError, match="Did you mean 'docker'"):
        make_sandbox("dockr")
    with pytest.raises(ValueError, match="Did you mean 'local'"):
        make_sandbox({"provider": "locall", "settings": {}})
    with pytest.raises(ValueError, match="provider 'local', not 'docker'"):
        make_sandbox({"provider": "docker", "entry_point": "rsigym.sandbox.local:LocalSandbox"})
    with pytest.raises(ValueError, match="not a Sandbox class"):
        make_sandbox({"provider": "local", "entry_point": "os.path:join"})
    with pytest.raises(ValueError, match="a sandbox spec holds"):
        make_sandbox({"name": "local"})
    with pytest.raises(ValueError, match="MarkedSandbox.name is 'marked', not 'other'"):
        register_sandbox("other", MarkedSandbox)


def test_grade_cache_keys_include_the_sandbox_configuration(make_env):
    env = make_env(iterations=2)
    env.reset(seed=0)
    base = env.unwrapped
    weights = {task.id: task.spec.weight for task in base.tasks}
    where = (base.workspace_dir, base.data_root, base.private_root, 0, "ci")
    cache: dict = {}
    confined, process = LocalSandbox(confine="auto"), LocalSandbox(confine=False)
    first = Evaluator(base.tasks, process, weights, cache=cache)
    first.evaluate(*where)
    assert first.misses == len(FAST_TASKS)
    # Same provider name, other configuration: nothing graded in process mode serves it.
    second = Evaluator(base.tasks, confined if confined.mode == "confined" else LocalSandbox(confine=False, warm=False),
                       weights, cache=cache)
    assert second.sandbox_key != first.sandbox_key and second.sandbox.name == first.sandbox.name
    second.evaluate(*where)
    assert (second.hits, second.misses) == (0, len(FAST_TASKS))
    # An equal configuration (a rebuilt spec) is served from the cache.
    third = Evaluator(base.tasks, make_sandbox(process.spec()), weights, cache=cache)
    third.evaluate(*where)
    assert (third.hits, third.misses) == (len(FAST_TASKS), 0)


def test_a_custom_sandbox_survives_resume(make_env, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    sandbox = MarkedSandbox(marker_dir=str(marks), warm=False)
    env = make_env(iterations=3, run_dir=tmp_path / "run", sandbox=sandbox)
    env.reset(seed=1)
    assert notes(marks), "the starter's runs went through the custom sandbox"
    resumed, _, _ = load_run(tmp_path / "run")
    try:
        assert isinstance(resumed.unwrapped.sandbox, MarkedSandbox) and resumed.unwrapped.sandbox == sandbox
        assert resumed.unwrapped.sandbox is not sandbox
    finally:
        resumed.close()


@pytest.mark.docker
def test_docker_sandbox_with_its_image_survives_resume(make_env, tmp_path):
    DockerSandbox, image_id = docker_image_id_or_skip()
    sandbox = DockerSandbox(image=image_id)
    env = make_env(iterations=3, run_dir=tmp_path / "run", sandbox=sandbox)
    env.reset(seed=1)
    resumed, _, info = load_run(tmp_path / "run")
    try:
        assert resumed.unwrapped.sandbox.image == image_id and resumed.unwrapped.sandbox == sandbox
    finally:
        resumed.close()


# -- Ray workers ---------------------------------------------------------------------------------
@pytest.fixture
def local_ray():
    """A private local Ray instance, shut down afterwards."""
    ray = pytest.importorskip("ray", reason="the Ray backend needs Ray: pip install 'rsigym[ray]'")
    from rsigym.backends.ray import connect

    connect(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_graders_use_the_configured_custom_sandbox(local_ray, make_env, tmp_path):
    from rsigym.backends.ray import RayEvaluator

    env = make_env(iterations=2, shared_cache=False)
    env.reset(seed=0)
    base = env.unwrapped
    marks = tmp_path / "marks"
    marks.mkdir()
    sandbox = MarkedSandbox(marker_dir=str(marks), warm=False)
    evaluator = RayEvaluator(base.tasks, sandbox, {t.id: t.spec.weight for t in base.tasks}, workers=1, cache={})
    try:
        result = evaluator.evaluate(base.workspace_dir, base.data_root, base.private_root, 0, "ci")
    finally:
        evaluator.close()
    assert set(result.losses) == set(FAST_TASKS)
    made = notes(marks)
    assert len(made) == len(FAST_TASKS)  # every task ran in the custom sandbox, on the Ray grader
    assert all(note["pid"] != os.getpid() and note["spec"] == sandbox.spec() for note in made)


@pytest.mark.slow
@pytest.mark.docker
def test_docker_sandbox_with_its_image_arrives_equal_on_a_ray_worker(local_ray):
    DockerSandbox, image_id = docker_image_id_or_skip()
    sandbox = DockerSandbox(image=image_id, cpus=1.0)
    rebuilt = local_ray.get(local_ray.remote(lambda spec: make_sandbox(spec).spec()).remote(sandbox.spec()))
    assert rebuilt == sandbox.spec() and rebuilt["settings"]["image"] == image_id


@pytest.mark.slow
def test_ray_episodes_play_in_the_configured_custom_sandbox(local_ray, tmp_path):
    from rsigym.backends.ray import run_episodes

    marks = tmp_path / "marks"
    marks.mkdir()
    sandbox = MarkedSandbox(marker_dir=str(marks), warm=False)
    [result] = run_episodes("RSI-MLE-v0", "greedy", seeds=[0], env_kwargs={"suite": "toy", "tasks": FAST_TASKS, "sandbox": sandbox},
                            iterations=1)
    assert result.records and notes(marks)
    assert all(note["pid"] != os.getpid() and note["spec"] == sandbox.spec() for note in notes(marks))
