"""Solutions that fail hard — crash, segfault, abort, hang, spin, run out of memory, lock
their own scratch copy — score invalid with the reason in the observation, and the env
carries on: the log stays valid and the next honest solution is graded."""
from __future__ import annotations

import uuid

import pytest

from rsigym.sandbox import Limits
from tests.redteam.arena import Arena

# fault -> (solution, what the observed error must say; alternatives separated by "|")
FAULTS = {
    "crash": ("raise RuntimeError('fault-injected crash')\n", "RuntimeError: fault-injected crash"),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", "segmentation fault"),
    "abort": ("import os\nos.abort()\n", "exited with code -6"),
    "hang": ("import time\nwhile True:\n    time.sleep(1)\n", "timeout"),
    "spin": ("while True:\n    pass\n", "timeout"),
    "out_of_memory": ("hoard = []\nwhile True:\n    hoard.append(bytearray(64 << 20))\n", "MemoryError"),
    "locked_scratch": ("import os\nopen(os.environ['RSI_OUTPUT_DIR'] + '/submission.csv', 'w').write('id,target\\n')\n"
                       "os.chmod(os.environ['RSI_OUTPUT_DIR'], 0)\nos.chmod('..', 0o500)\n", "0 rows|PermissionError"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failing_solution_is_invalid_and_the_env_carries_on(make_env, monkeypatch, fault):
    arena = Arena(make_env(iterations=10))
    digits = next(task for task in arena.unwrapped.tasks if task.id == "digits")
    # Short limits keep the hang cheap and the memory hog far below what this machine holds.
    monkeypatch.setattr(digits, "timeout", lambda scale: 3.0)
    monkeypatch.setattr(digits, "limits", lambda scale: Limits(cpu_seconds=20, memory_bytes=768 * 1024**2))
    source, reason = FAULTS[fault]
    outcome = arena.step({"op": "write", "path": "tasks/digits/solution.py", "content": source + f"# {uuid.uuid4().hex}\n"})
    assert not outcome.valid and outcome.loss == 2.0 and outcome.reward <= 0.0
    assert any(why in outcome.error and why in outcome.obs["text"] for why in reason.split("|")), outcome.error
    monkeypatch.undo()
    arena.assert_env_holds()
