"""Synthetic run logs with known curves, in the log.jsonl format of rsigym/runlog.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest

TASKS = {
    "short": {"category": "mle", "human_minutes": 10, "weight": 1.0, "metric": "accuracy"},
    "medium": {"category": "mle", "human_minutes": 30, "weight": 1.0, "metric": "accuracy"},
    "long": {"category": "kernel", "human_minutes": 120, "weight": 1.0, "metric": "seconds"},
}
# Shorter tasks end lower: task loss = suite loss × factor (mean factor 1 keeps the suite loss).
TASK_FACTORS = {"short": 0.4, "medium": 0.9, "long": 1.7}
KIND_CYCLE = ("code", "code", "harness", "weight")


def record(run_id: str, agent: str, model: str | None, seed: int, episode: int, step: int, iteration: int,
           loss: float, previous: float, compute_s: float, ops: list, evaluated: bool, covariates: dict,
           final: bool = False, private_offset: float = 0.0) -> dict:
    losses = {task: loss * factor for task, factor in TASK_FACTORS.items()}
    out = {
        "run_id": run_id, "env_id": "RSI-Test-v0", "agent": agent, "model": model, "seed": seed,
        "episode": episode, "step": step, "iteration": iteration, "wall_s": compute_s * 1.1,
        "compute_s": compute_s, "ops": ops, "losses": losses, "loss": loss, "reward": previous - loss,
        "private_loss": loss + private_offset if final else None,
        "private_losses": {t: v + private_offset for t, v in losses.items()} if final else None,
        "terminated": final, "truncated": False, "evaluated": evaluated, "covariates": covariates,
    }
    if step == 0:
        out["tasks"] = TASKS
    return out


def write_log(path: Path, curves: Sequence[Sequence[float]], *, run_id: str = "run", agent: str = "greedy",
              model: str | None = None, seed: int = 0, covariates: dict | None = None,
              compute_per_iteration: float = 30.0, private_offset: float = 0.05) -> Path:
    """One episode per curve; curve[i] is the public suite loss after iteration i (curve[0]: the starter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for episode, curve in enumerate(curves):
        lines.append(record(run_id, agent, model, seed, episode, 0, 0, curve[0], curve[0], 0.0, [], False,
                            covariates or {}))
        for i in range(1, len(curve)):
            kind = KIND_CYCLE[(i - 1) % len(KIND_CYCLE)]
            ops = [{"op": "write", "path": f"{kind}/f.py", "kind": kind, "ok": True, "error": None},
                   {"op": "evaluate", "path": None, "kind": None, "ok": True, "error": None}]
            lines.append(record(run_id, agent, model, seed, episode, i, i, curve[i], curve[i - 1],
                                compute_per_iteration * i, ops, True, covariates or {}, final=i == len(curve) - 1,
                                private_offset=private_offset))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def power_curve(l_inf: float, a: float, alpha: float, n: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(n + 1, dtype=float)
    return l_inf + a * (1 + t) ** -alpha + np.random.default_rng(seed).normal(0, noise, t.size)


@pytest.fixture
def make_log(tmp_path: Path) -> Callable[..., Path]:
    """``make_log(name, curves, **tags)`` writes ``tmp/name/log.jsonl`` and returns the run directory."""
    def make(name: str, curves: Sequence[Sequence[float]], **tags) -> Path:
        return write_log(tmp_path / name / "log.jsonl", curves, run_id=name, **tags).parent
    return make


@pytest.fixture
def curve_of() -> Callable[..., np.ndarray]:
    """:func:`power_curve` as a fixture (test modules here are not importable as a package)."""
    return power_curve
