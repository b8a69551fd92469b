"""The red-team arena: a real env on the fast tasks, attack solutions played through it, and
the checks every case ends with.

An attack is a solution file from ``solutions/`` written into ``workspace/tasks/<id>/`` with
``probe.py`` and an ``attack.json`` of targets, then scored by an ordinary ``step()``. Every
case ends with :meth:`Arena.assert_env_holds`: the private labels, the public data, the run
settings and the run log are as the env left them, and an honest solution played next is
still run, graded and rewarded.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import pytest

import rsigym.envs.kaggle.grading
import rsigym.evaluation

SOLUTIONS = Path(__file__).with_name("solutions")
CLEAN = "RESULT leaks=[] escapes=[]"  # the probe's last line when every attempt failed
HONEST_LOSS_BOUND = 0.3  # one-nearest-neighbour on digits scores about 0.05; the starter 1.0


class Outcome(NamedTuple):
    """One scored step: what the policy saw, and what the solution printed (``report``)."""

    task: str
    obs: dict
    reward: float
    info: dict
    report: str

    @property
    def loss(self) -> float:
        return self.info["losses"][self.task]

    @property
    def valid(self) -> bool:
        return self.info["valid"][self.task]

    @property
    def error(self) -> str:
        return self.info["errors"].get(self.task, "")

    def assert_no_gain(self) -> None:
        """The attack scored invalid (loss 2) and earned no reward."""
        assert not self.valid and self.loss == 2.0, f"attack scored {self.loss} (valid={self.valid}):\n{self.report}"
        assert self.reward <= 0.0

    @property
    def got_through(self) -> bool:
        """The probe finished and at least one attempt succeeded."""
        return "RESULT " in self.report and CLEAN not in self.report

    def assert_clean(self) -> None:
        """The probe ran to its end and none of its attempts succeeded."""
        assert CLEAN in self.report, f"the attack got through or did not finish:\n{self.report}"


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (or ``root`` itself, a file): content hash, or ``dir``."""
    root = Path(root)
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(root.rglob("*"))
    }


class Arena:
    """An env reset on seed 0, with helpers to play attacks and check that nothing gave way."""

    def __init__(self, env: gym.Env):
        self.env = env
        self.unwrapped = env.unwrapped
        self.obs, self.start = env.reset(seed=0)
        self.previous_loss = self.start["loss"]
        self.protected = self._protected_state()

    @property
    def sandbox(self):
        return self.unwrapped.sandbox

    @property
    def log_path(self) -> Path:
        return self.unwrapped.log.path

    def targets(self, task: str = "digits") -> dict[str, Any]:
        """Absolute paths an attacker who knows the run directory's layout would go for."""
        run = self.unwrapped.run_dir
        return {
            "task": task,
            "run_dir": str(run),
            "log": str(self.log_path),
            "env_json": str(run / "env.json"),
            "history": str(run / "history.git"),
            "private_dir": str(self.unwrapped.private_root / task),
            "private_labels": str(self.unwrapped.private_root / task / "labels.csv"),
            "data_dir": str(self.unwrapped.data_root / task),
            "grader_files": [rsigym.envs.kaggle.grading.__file__, rsigym.evaluation.__file__],
        }

    # -- playing -------------------------------------------------------------------------
    def step(self, action: Any, task: str = "digits") -> Outcome:
        obs, reward, terminated, truncated, info = self.env.step(action)
        assert obs in self.unwrapped.observation_space
        result = self.unwrapped.result.results.get(task)
        self.previous_loss = info["loss"]
        return Outcome(task, obs, reward, info, result.log_tail if result else "")

    def play(self, attack: str, task: str = "digits", extra: tuple[str, ...] = (), **params: Any) -> Outcome:
        """Write ``solutions/<attack>.py`` as the task's solution (with ``probe.py``, the
        ``extra`` solution files and ``attack.json``) and score it in one step."""
        settings = {**self.targets(task), "nonce": uuid.uuid4().hex, **params}  # the nonce defeats the grade cache
        files = {"solution.py": (SOLUTIONS / f"{attack}.py").read_text(), "probe.py": (SOLUTIONS / "probe.py").read_text(),
                 "attack.json": json.dumps(settings)}
        files.update({name: (SOLUTIONS / name).read_text() for name in extra})
        return self.step([{"op": "write", "path": f"tasks/{task}/{name}", "content": text} for name, text in files.items()], task)

    def honest_step(self) -> Outcome:
        """Play an honest digits solution; it must be run, graded valid and rewarded. (Without
        digits in the suite: revert to the starter, which must score as it did at reset.)"""
        before = self.previous_loss
        if "digits" not in self.unwrapped.task_ids:
            outcome = self.step({"op": "revert", "iteration": 0}, self.unwrapped.task_ids[0])
            assert outcome.info["losses"] == pytest.approx(self.start["losses"])
            assert outcome.reward == pytest.approx(before - outcome.info["loss"])
            return outcome
        source = (SOLUTIONS / "honest_knn.py").read_text() + f"# {uuid.uuid4().hex}\n"  # a fresh grade, never a cached one
        outcome = self.step({"op": "write", "path": "tasks/digits/solution.py", "content": source})
        assert outcome.valid and outcome.loss < HONEST_LOSS_BOUND, f"honest solution failed after the attack: {outcome.error}"
        assert outcome.info["evaluated"] and not self.unwrapped.stats()["cached"]["digits"]
        assert outcome.reward == pytest.approx(before - outcome.info["loss"])
        return outcome

    # -- the checks every case ends with -----------------------------------------------------
    def _protected_state(self) -> dict[str, dict[str, str]]:
        run = self.unwrapped.run_dir
        return {
            "private": fingerprint(self.unwrapped.private_root),
            "data": fingerprint(self.unwrapped.data_root),
            "env.json": fingerprint(run / "env.json") if (run / "env.json").exists() else {},
        }

    def assert_protected_untouched(self) -> None:
        assert self._protected_state() == self.protected, "private labels, public data or run settings changed"

    def assert_log_intact(self) -> list[dict]:
        """Every line of the run log is a record this env wrote, one per step, in order."""
        lines = self.log_path.read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert {r["run_id"] for r in records} == {self.unwrapped.run_id}
        assert [r["step"] for r in records] == list(range(len(records)))
        return records

    def assert_env_holds(self) -> None:
        self.assert_protected_untouched()
        self.honest_step()
        self.assert_log_intact()


def expect_gap(request: pytest.FixtureRequest, sandbox, gaps: set[str], why: str) -> bool:
    """Mark the running case ``xfail(strict=True)`` when ``sandbox`` documents one of ``gaps``
    (``known_gaps``, see docs/sandboxes.md): the attack must then still get through, or the
    documentation is stale. Returns whether it did."""
    hit = sorted(gaps & set(getattr(sandbox, "known_gaps", ())))
    if hit:
        mode = getattr(sandbox, "mode", "")
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{sandbox.name} sandbox ({mode} mode) documents {hit}: {why}"))
    return bool(hit)


def tagged_processes(tag: str) -> list[int]:
    """Pids of live processes whose command line holds ``tag`` (any user, any namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_all(pids: list[int]) -> None:
    """Clean up processes an attack left behind (only those it started, found by their tag)."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
