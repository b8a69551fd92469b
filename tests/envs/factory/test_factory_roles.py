"""Roles, regions, conflicts and gain attribution of the AI factory, without running any solution."""
from types import SimpleNamespace

import pytest

from rsigym.actions import validate_op
from rsigym.envs.factory import OTHER, ROLES, Role, build_regions, gain_by_role, is_factory_run
from rsigym.envs.factory.roles import find_conflicts, refusal
from rsigym.tasks import CATEGORIES


def fake_task(task_id: str, category: str, weight: float = 1.0) -> SimpleNamespace:
    return SimpleNamespace(id=task_id, spec=SimpleNamespace(category=category, weight=weight))


EVERY_CATEGORY = [fake_task("gelu", "kernel"), fake_task("lm", "pretrain"), fake_task("sft", "posttrain"),
                  fake_task("digits", "mle"), fake_task("wine", "mle")]


def test_every_task_category_has_exactly_one_owning_role():
    owners = {category: [role.name for role in ROLES if category in role.categories] for category in CATEGORIES}
    assert all(len(names) == 1 for names in owners.values()), owners


def test_all_five_roles_play_a_suite_with_every_category_in_the_fixed_order():
    regions = build_regions(EVERY_CATEGORY)
    assert list(regions) == ["pretrainer", "posttrainer", "kernel_engineer", "mle_engineer", "harness_keeper"]
    assert regions["mle_engineer"].own == ("tasks/digits", "tasks/wine")
    assert regions["kernel_engineer"].scored_on == ("gelu",)
    assert regions["harness_keeper"].own == ("harness", "lib") and regions["harness_keeper"].tasks == ()
    assert regions["harness_keeper"].scored_on == ("gelu", "lm", "sft", "digits", "wine")
    assert all(region.shared == ("weights",) for region in regions.values())


def test_roles_without_work_in_the_suite_are_dropped_but_the_harness_keeper_stays():
    regions = build_regions([fake_task("digits", "mle")])
    assert list(regions) == ["mle_engineer", "harness_keeper"]


def test_a_task_without_an_owner_is_rejected():
    with pytest.raises(ValueError, match="lm: none"):
        build_regions([fake_task("lm", "pretrain")], roles=[Role("mle_engineer", ("mle",))])
    with pytest.raises(ValueError, match="unique"):
        build_regions([], roles=[Role("a", folders=("lib",)), Role("a", folders=("harness",))])


@pytest.mark.parametrize("raw, refused_for_mle", [
    ({"op": "write", "path": "tasks/digits/config.json", "content": "{}"}, False),
    ({"op": "write", "path": "./tasks/wine/solution.py", "content": ""}, False),
    ({"op": "write", "path": "weights/w.safetensors", "content": ""}, False),
    ({"op": "write", "path": "tasks/gelu/solution.py", "content": ""}, True),
    ({"op": "write", "path": "tasks/digits/../gelu/solution.py", "content": ""}, True),
    ({"op": "write", "path": "tasks/digitsx/solution.py", "content": ""}, True),
    ({"op": "patch", "path": "lib/tabular.py", "diff": ""}, True),
    ({"op": "write", "path": "notes.md", "content": ""}, True),
    ({"op": "merge", "inputs": ["weights/a.safetensors"], "out": "lib/m.safetensors"}, True),
    ({"op": "run", "cmd": "true", "keep": ["tasks/digits", "harness"]}, True),
    ({"op": "run", "cmd": "true", "keep": ["tasks/wine/out.csv"]}, False),
    ({"op": "read", "path": "lib/tabular.py"}, False),
])
def test_writes_outside_the_region_are_refused_reads_never(raw, refused_for_mle):
    regions = build_regions(EVERY_CATEGORY)
    reason = refusal(validate_op(raw), regions["mle_engineer"], regions)
    assert bool(reason) == refused_for_mle
    if refused_for_mle:
        assert reason.startswith("mle_engineer may not write") and "tasks/digits/, tasks/wine/, weights/" in reason


def test_a_refusal_names_the_owner():
    regions = build_regions(EVERY_CATEGORY)
    reason = refusal(validate_op({"op": "write", "path": "lib/x.py", "content": ""}), regions["kernel_engineer"], regions)
    assert "belongs to harness_keeper" in reason
    reason = refusal(validate_op({"op": "write", "path": "elsewhere/x", "content": ""}), regions["kernel_engineer"], regions)
    assert "no role owns it" in reason


def test_conflicts_are_overlapping_writes_of_different_roles_in_role_order():
    touched = {"pretrainer": ["weights/base.safetensors"], "mle_engineer": ["tasks/digits/config.json"],
               "harness_keeper": ["weights", "harness/memory.md"]}
    assert find_conflicts(touched) == [{"path": "weights/base.safetensors", "agents": ["pretrainer", "harness_keeper"]}]
    assert find_conflicts({"pretrainer": ["weights/a"], "posttrainer": ["weights/b"]}) == []
    assert find_conflicts({"pretrainer": ["weights/a", "weights/a"]}) == []


def factory_record(step, losses, ops=(), roles=("mle_engineer", "harness_keeper"), tasks=None):
    record = {"step": step, "losses": losses, "ops": list(ops), "agent_rewards": {}}
    if step == 0:
        record.update(roles={name: {} for name in roles}, tasks=tasks or {})
    return record


def op(agent, *wrote, ok=True):
    return {"op": "write", "agent": agent, "ok": ok, "wrote": list(wrote)}


def test_gain_by_role_credits_each_task_change_to_the_roles_that_wrote_its_inputs():
    tasks = {"a": {"weight": 3.0}, "b": {"weight": 1.0}}
    records = [
        factory_record(0, {"a": 1.0, "b": 1.0}, tasks=tasks),
        # the engineer improves a; the keeper's lib edit reaches every task, so b's gain is the keeper's alone
        factory_record(1, {"a": 0.6, "b": 0.2}, [op("mle_engineer", "tasks/a/config.json"), op("harness_keeper", "lib/x.py")]),
        # a refused op and a harness note explain nothing: a's regression goes to "other"
        factory_record(2, {"a": 0.8, "b": 0.2}, [op("mle_engineer", "tasks/a/x", ok=False), op("harness_keeper", "harness/memory.md")]),
    ]
    parts = gain_by_role(records)
    assert parts["mle_engineer"] == pytest.approx(0.75 * 0.4 / 2)
    assert parts["harness_keeper"] == pytest.approx(0.75 * 0.4 / 2 + 0.25 * 0.8)
    assert parts[OTHER] == pytest.approx(-0.75 * 0.2)
    suite = [sum(r["losses"][t] * tasks[t]["weight"] for t in tasks) / 4 for r in records]
    assert sum(parts.values()) == pytest.approx(suite[0] - suite[-1])
    assert is_factory_run(records) and not is_factory_run([{"step": 0, "losses": {}}])


def test_a_path_with_a_leading_space_is_not_inside_a_region():
    regions = build_regions(EVERY_CATEGORY)
    reason = refusal(validate_op({"op": "write", "path": " tasks/digits/x", "content": ""}), regions["mle_engineer"], regions)
    assert reason.startswith("mle_engineer may not write")


def test_the_factory_uses_only_the_public_side_of_the_core_env():
    """No private attribute of RSIEnv (``core._x``, ``env._x``, ``unwrapped._x``) in envs/factory."""
    import ast
    from pathlib import Path

    import rsigym.envs.factory as package

    reaching_in = []
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, (ast.Name, ast.Attribute))
                    and getattr(node.value, "id", getattr(node.value, "attr", "")) in ("core", "env", "unwrapped")):
                reaching_in.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert not reaching_in
