"""Every named edit of every task keeps the starter correct and compilable.

Greedy and menu agents apply these edits blindly, so an edit that broke a solution would teach
them only that edits are invalid. On a CPU they cannot change the score; on a GPU they change
the speed. The cases run in one subprocess (check_edits.py) under the Triton interpreter.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rsigym.envs.kernels import load_tasks

CASES = [f"{task.id}-{edit.name}" for task in load_tasks() for edit in task.spec.edits]
CASES += [f"{task.id}-starter" for task in load_tasks()]


@pytest.fixture(scope="module")
def results() -> dict[str, str | None]:
    if torch.cuda.is_available():
        pytest.skip("checks the interpreter path")
    script = Path(__file__).with_name("check_edits.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("case", CASES)
def test_edit_keeps_solution_correct(results, case):
    assert case in results, f"{case} did not run"
    assert results[case] is None, results[case]
