"""Red-team attacks 1 and 2 of the reward-integrity issue: test labels looked up in the
bundled datasets the sandbox can import, and hidden data rebuilt from ``RSI_SEED`` with the
task's own public builder. Both reached losses far below any honest solution before the
instance secret and the hidden leak sources (docs/security.md lists the figures)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import rsigym
import rsigym.envs
from rsigym.registry import load_suite
from rsigym.contract import score_solution
from tests.redteam.arena import SOLUTIONS, expect_gap

TASKS = {task.id: task for task in load_suite(("toy", "pretrain"))}  # the attacked tasks (SUITE_OF)
BUNDLED = ["digits", "wine", "breast-cancer", "diabetes"]  # scikit-learn's bundled copies
SUITE_OF = {"house-prices": "toy", "synthlang": "pretrain", "pycode": "pretrain"}


def test_label_lookup_in_bundled_datasets_gains_nothing(request, make_env):
    env = make_env(tasks=BUNDLED, iterations=4)
    _, start = env.reset(seed=5)
    expect_gap(request, env.unwrapped.sandbox, {"private_data_hidden"},
               "process mode runs on the host's files: scikit-learn's bundled data stays readable")
    attack = (SOLUTIONS / "sklearn_lookup.py").read_text()
    _, reward, _, _, info = env.step([{"op": "write", "path": f"tasks/{t}/solution.py", "content": attack} for t in BUNDLED])
    print(f"attack 1: suite loss {start['loss']:.3f} -> {info['loss']:.3f}, reward {reward:+.3f}")
    assert info["evaluated"] and set(info["losses"]) == set(BUNDLED)
    assert reward <= 0.0 and info["loss"] >= start["loss"]
    for task in BUNDLED:  # each task: no better than its starter
        assert info["losses"][task] >= start["losses"][task], (task, info["losses"][task], start["losses"][task])


def public_code() -> dict[str, str]:
    """rsigym's public source, as an attacker copies it into the workspace (``attack_lib/``)."""
    files = {}
    for base, prefix in ((Path(rsigym.__file__).parent, "attack_lib/rsigym"), (Path(rsigym.envs.__file__).parent, "attack_lib/rsigym/envs")):
        for path in base.rglob("*"):
            if path.is_file() and path.suffix in (".py", ".json", ".md") and "__pycache__" not in path.parts:
                files[f"{prefix}/{path.relative_to(base)}"] = path.read_text()
    return files


def rebuild_attack(task_id: str) -> dict[str, str]:
    task = TASKS[task_id]
    return {
        **public_code(),
        "solution.py": (SOLUTIONS / "rebuild_from_seed.py").read_text(),
        "starter_solution.py": (task.starter_dir / task.entry).read_text(),
        "attack.json": json.dumps({"suite": SUITE_OF[task_id], "task": task_id}),
    }


def play_rebuild(request, task_id: str, seed: int = 5):
    from rsigym.sandbox import LocalSandbox

    sandbox = LocalSandbox()
    expect_gap(request, sandbox, {"private_data_hidden"}, "process mode: the builder reads what the grader reads")
    task = TASKS[task_id]
    starter = score_solution(task, None, seed, "ci", sandbox)
    attacked = score_solution(task, rebuild_attack(task_id), seed, "ci", sandbox)
    print(f"attack 2 on {task_id}: private loss {attacked.private_loss:.3f} (public {attacked.public_loss:.3f}) "
          f"vs starter {starter.private_loss:.3f}\n{attacked.log_tail[-600:]}")
    assert attacked.grade.valid, attacked.grade.error
    assert attacked.private_loss >= starter.private_loss - 0.05
    assert attacked.public_loss >= starter.public_loss - 0.05
    return attacked


def test_house_prices_rebuilt_from_the_seed_gains_nothing(request):
    attacked = play_rebuild(request, "house-prices")
    assert "REBUILT" in attacked.log_tail  # the builder ran; the secret is what it lacked


@pytest.mark.slow
@pytest.mark.parametrize("task_id", ["synthlang", "pycode"])
def test_language_data_rebuilt_from_the_seed_gains_nothing(request, task_id):
    play_rebuild(request, task_id)
