"""The workspace-ops service and the compute budget: one dispatcher applies every op and returns
its cost, the env alone charges it, and every solution run the policy asks for is cut to the
budget left."""
from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from rsigym import operations
from rsigym.actions import validate_op
from rsigym.env import RSIEnv
from rsigym.registry import load_suite
from rsigym.evaluation import Evaluator
from rsigym.operations import OpOutcome, WorkspaceOps
from rsigym.sandbox import LocalSandbox
from rsigym.workspace import Workspace

SLEEPER = "import time\ntime.sleep(600)\n"  # a wine solution that would outlast any budget here


def _imported_modules(module) -> set[str]:
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_ops_service_never_imports_the_env():
    assert not {name for name in _imported_modules(operations) if name == "rsigym.env" or name.startswith("rsigym.envs")}


def test_every_op_of_the_action_protocol_has_one_handler():
    from rsigym.actions import OPS

    assert set(operations._HANDLERS) == set(OPS)


class Commits:
    """A second, minimal owner of iterations (the env is the first): evaluate commits at no cost."""

    def __init__(self, workspace: Workspace):
        self.workspace, self.iteration, self.iterations, self.loss = workspace, 0, 2, 1.0
        self.commits = {0: workspace.commit("iteration 0")}

    def changed(self) -> bool:
        return self.workspace.differs_from(self.commits[self.iteration])

    def new_iteration(self) -> float:
        self.iteration += 1
        self.commits[self.iteration] = self.workspace.commit(f"iteration {self.iteration}")
        return 0.25


@pytest.fixture
def service(tmp_path):
    workspace = Workspace.create(tmp_path / "ws", tmp_path / "history.git", {}, {})
    data = tmp_path / "data"
    data.mkdir()
    yield WorkspaceOps(workspace, LocalSandbox(), Commits(workspace), {"RSI_DATA_ROOT": str(data)}, [data])


def test_the_service_returns_results_costs_and_written_paths_and_charges_nothing(service):
    write = service.apply(validate_op({"op": "write", "path": "harness/a.md", "content": "a"}))
    assert write == OpOutcome(write.result, 0.0, ("harness/a.md",), False) and write.result.ok
    run = service.apply(validate_op({"op": "run", "cmd": "sleep 0.3; echo hi > harness/b.md", "keep": ["harness/b.md"]}),
                        budget_left=30.0)
    assert run.result.ok and run.cost_seconds >= 0.3 and run.wrote == ("harness/b.md",)
    assert (service.workspace.root / "harness/b.md").read_text() == "hi\n"
    evaluate = service.apply(validate_op({"op": "evaluate"}))
    assert evaluate.result.ok and evaluate.cost_seconds == 0.25 and service.history.iteration == 1
    again = service.apply(validate_op({"op": "evaluate"}))  # nothing changed: no iteration, no cost
    assert again.result.ok and again.cost_seconds == 0.0 and "no iteration spent" in again.result.output
    service.apply(validate_op({"op": "write", "path": "harness/a.md", "content": "changed"}))
    submit = service.apply(validate_op({"op": "submit"}), budget_left=0.0)
    assert submit.submitted and submit.cost_seconds == 0.0 and "compute budget is used up" in submit.result.output


def test_with_no_budget_left_runs_and_evaluations_are_refused_and_cost_nothing(service):
    service.apply(validate_op({"op": "write", "path": "harness/a.md", "content": "a"}))
    for raw in ({"op": "run", "cmd": "true"}, {"op": "evaluate"}):
        outcome = service.apply(validate_op(raw), budget_left=0.0)
        assert not outcome.result.ok and "compute budget is used up" in outcome.result.error
        assert outcome.cost_seconds == 0.0
    assert service.history.iteration == 0


def test_a_write_guard_refuses_writes_and_limits_what_revert_restores(service):
    class OnlyTasks:
        def refusal(self, path: str) -> str:
            return "" if path.startswith("tasks/") else f"not {path}"

        def reverts(self) -> tuple[str, ...]:
            return ("tasks",)

    guard = OnlyTasks()
    refused = service.apply(validate_op({"op": "write", "path": "harness/x.md", "content": "x"}), guard=guard)
    assert not refused.result.ok and refused.result.error == "not harness/x.md" and refused.wrote == ()
    kept = service.apply(validate_op({"op": "run", "cmd": "echo x > harness/x.md", "keep": ["harness"]}), guard=guard)
    assert not kept.result.ok and kept.cost_seconds == 0.0  # refused before anything ran
    service.apply(validate_op({"op": "write", "path": "tasks/t/a.py", "content": "1"}), guard=guard)
    service.apply(validate_op({"op": "write", "path": "harness/memory.md", "content": "kept"}))
    revert = service.apply(validate_op({"op": "revert", "iteration": 0}), guard=guard)
    assert revert.result.ok and revert.wrote == ("tasks",)
    assert not (service.workspace.root / "tasks/t/a.py").exists()
    assert (service.workspace.root / "harness/memory.md").read_text() == "kept"


def test_a_run_op_is_charged_once_by_the_env(make_env):
    env = make_env(iterations=5, compute_seconds=100, auto_evaluate=False)
    env.reset(seed=0)
    before = env.unwrapped.compute_used
    _, _, _, _, info = env.step({"op": "run", "cmd": "sleep 0.5"})
    spent = env.unwrapped.compute_used - before
    assert spent >= 0.5 and info["budget"]["compute_left_s"] == pytest.approx(100 - env.unwrapped.compute_used)
    records = [json.loads(line) for line in Path(info["log_path"]).read_text().splitlines()]
    assert records[-1]["compute_s"] == pytest.approx(records[0]["compute_s"] + spent, abs=1e-3)


def test_solution_runs_are_cut_to_the_budget_left_and_the_end_is_explicit(make_env):
    env = make_env(tasks=["wine"], iterations=5, compute_seconds=4.0)
    _, info = env.reset(seed=0)
    start, left = info["loss"], info["budget"]["compute_left_s"]
    assert 0 < left <= 4.0  # the starter's grade, unless the cache served it, was charged
    obs, reward, terminated, truncated, info = env.step({"op": "write", "path": "tasks/wine/solution.py", "content": SLEEPER})
    assert info["iteration"] == 1 and info["errors"]["wine"].startswith("solution stopped")
    assert truncated and not terminated and info["budget"]["compute_left_s"] == 0.0
    assert "compute budget is used up" in obs["text"] and "Episode over" in obs["text"]
    assert info["losses"]["wine"] == 2.0 and reward == pytest.approx(start - 2.0)  # an invalid solution scores 2
    # stopped at the budget left, not at the task's own timeout (which would spend 120 s)
    assert env.unwrapped.compute_used < 60


def test_a_grade_cut_by_the_budget_is_never_cached(tmp_path):
    (wine,) = load_suite("toy", ["wine"])
    data, private = tmp_path / "data", tmp_path / "private"
    wine.prepare(0, "ci", data / "wine", private / "wine")
    workspace = Workspace.create(tmp_path / "ws", tmp_path / "history.git", {"wine": wine.starter_dir},
                                 [wine.shared_lib_dir] if wine.shared_lib_dir else [])
    cache: dict = {}
    evaluator = Evaluator([wine], LocalSandbox(), {"wine": 1.0}, cache=cache)
    fine = evaluator.evaluate(workspace.root, data, private, 0, "ci", timeout_cap=60.0)
    assert fine.results["wine"].grade.valid and cache  # a run that finished within the cap is cached
    cache.clear()
    workspace.write("tasks/wine/solution.py", SLEEPER)
    cut = evaluator.evaluate(workspace.root, data, private, 0, "ci", timeout_cap=0.5)
    assert cut.results["wine"].grade.error.startswith("solution stopped") and not cache


def test_factory_and_core_accept_the_same_keyword_arguments():
    from rsigym.envs.factory.factory import FIXED_CORE_KWARGS, FactoryEnv

    core = set(inspect.signature(RSIEnv).parameters)
    factory = set(inspect.signature(FactoryEnv).parameters)
    own = {"team_weight", "roles", "shared"}
    assert factory - own == core - set(FIXED_CORE_KWARGS)
