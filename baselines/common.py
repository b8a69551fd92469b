"""Helpers shared by the learning baselines: dataclass command lines, seeding, held-out velocity.

Velocity is always read back from the run logs the episodes wrote (``log.jsonl``, see
``rsigym/runlog.py``), never from the trainer's own bookkeeping, so a baseline's figures can be
re-derived with ``rsigym report``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
import resource
import types
import typing
from pathlib import Path
from typing import Any, Sequence, TypeVar

import numpy as np
import torch

from rsigym.analysis.curves import CurveMetrics, curve_metrics
from rsigym.analysis.leaderboard import mean_interval
from rsigym.analysis.runlog import load_runs

ArgsT = TypeVar("ArgsT")


def parse_args(cls: type[ArgsT], argv: Sequence[str] | None = None, description: str = "") -> ArgsT:
    """Build ``cls`` (a dataclass of defaults) from ``--field value`` options, CleanRL style.

    Booleans take ``--flag/--no-flag``; tuple fields take one or more values; the field
    docstrings are not available at run time, so ``--help`` shows each default."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        hint = hints[field.name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        origin, params = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default)
        elif origin is tuple:
            parser.add_argument(flag, dest=field.name, nargs="*", type=params[0], default=default)
        elif origin in (typing.Union, types.UnionType):
            inner = next(p for p in params if p is not type(None))
            parser.add_argument(flag, dest=field.name, type=inner, default=default)
        else:
            parser.add_argument(flag, dest=field.name, type=hint, default=default)
    values = vars(parser.parse_args(argv))
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` asks torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (the sandboxed solution
    runs, git): a measure of training cost that does not depend on how busy the machine is."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def velocities(run_dirs: Sequence[str | Path]) -> list[float]:
    """Velocity (loss gain per iteration) of the first episode logged in each run directory."""
    values = []
    for run_dir in run_dirs:
        first = min(load_runs([run_dir]), key=lambda run: run.episode)
        values.append(episode_velocity(curve_metrics(first.curve())))
    return values


def episode_velocity(metrics: CurveMetrics) -> float:
    """Velocity, counting an episode submitted before any evaluation (no gain, no iteration) as 0."""
    return 0.0 if metrics.iterations == 0 else metrics.velocity


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean, 95 % Student-t interval and count of a list of velocities."""
    mean, (low, high) = mean_interval(values)
    return {"mean": mean, "low": low, "high": high, "n": len(values),
            "values": [round(v, 6) if math.isfinite(v) else v for v in values]}
