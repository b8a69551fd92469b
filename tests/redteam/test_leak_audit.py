"""The leak audit of the task contract (``rsigym.contract.check_task``) on every task of every
suite: the lookup attacker must not beat the starter on the private split, nor find or
rebuild hidden test documents. Kernel tasks hold no labels (``rsigym.leak_audit`` says why)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsigym.registry import load_suite, suite_entry, suite_names
from rsigym.leak_audit import audit_leaks
from rsigym.sandbox import LocalSandbox
from rsigym.sandbox.local import confinement_available
from rsigym.contract import TaskCheckError, check_task
from tests.redteam.arena import expect_gap

ALL_TASKS = load_suite([name for name in suite_names() if not suite_entry(name).takes_argument])


@pytest.mark.parametrize("task", ALL_TASKS, ids=[task.id for task in ALL_TASKS])
def test_no_task_leaks_its_test_labels_into_the_sandbox(request, task):
    if task.spec.category == "kernel":
        assert audit_leaks(task).method.startswith("not applicable")
        pytest.skip("kernels hold no labels: inputs are drawn after the solution is imported")
    sandbox = LocalSandbox()
    expect_gap(request, sandbox, {"private_data_hidden"},
               "process mode runs on the host's files: private data and bundled datasets stay readable")
    report = check_task(task, checks=("spec", "determinism", "leaks"), sandbox=sandbox)
    print(task.id, report["leak_audit"])


@pytest.mark.parametrize("task_id, finding", [("digits", "lookup attacker"), ("pycode", "readable in the sandbox")])
def test_the_audit_catches_a_leak_when_nothing_is_hidden(task_id, finding):
    """Unconfined, scikit-learn's bundled digits and pycode's hidden standard-library sources
    are readable: the audit must say so."""
    task = next(task for task in ALL_TASKS if task.id == task_id)
    with pytest.raises(TaskCheckError, match=finding):
        check_task(task, checks=("leaks",), sandbox=LocalSandbox(confine=False))


@pytest.mark.parametrize("confine", [False, True], ids=["process", "confined"])
def test_info_and_the_run_log_say_how_far_test_data_is_hidden(make_env, confine):
    if confine and not confinement_available():
        pytest.skip("confined mode needs root and unshare")
    env = make_env(sandbox=LocalSandbox(confine=confine))
    _, info = env.reset(seed=0)
    first = json.loads(Path(info["log_path"]).read_text().splitlines()[0])
    assert first["integrity"] == info["integrity"]
    assert info["integrity"] == "strong" if confine else info["integrity"].startswith("weak: ")


def test_the_docker_image_is_built_without_any_declared_leak_source():
    dockerfile = (Path(__file__).parents[2] / "docker" / "Dockerfile").read_text()
    removed = " ".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#"))
    for task in ALL_TASKS:
        for source in task.spec.leak_sources:
            package, inner = source.split(":", 1)
            where = inner if package == "stdlib" else f"site-packages/{package}/{inner}"
            assert where in removed, f"{task.id}: docker/Dockerfile keeps leak source {source}"
