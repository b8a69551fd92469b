"""Task suites: each suite package exposes ``load_tasks() -> list[Task]``."""
from __future__ import annotations

import difflib
import importlib
from typing import Iterable, Sequence

from rsigym.tasks import Task

SUITES: dict[str, str] = {
    "mle": "rsigym.envs.mle",
    "kaggle": "rsigym.envs.kaggle",
    "kernels": "rsigym.envs.kernels",
    "pretrain": "rsigym.envs.pretrain",
    "posttrain": "rsigym.envs.posttrain",
}

# The default suite of RSI-MLE-v0: every category of ML engineering the product covers.
DEFAULT_SUITE: tuple[str, ...] = ("mle", "kernels", "pretrain", "posttrain")


def load_suite(names: str | Iterable[str] = DEFAULT_SUITE, tasks: Sequence[str] | None = None) -> list[Task]:
    """Tasks of one or more suites (``"default"`` = :data:`DEFAULT_SUITE`), optionally filtered by task id."""
    if isinstance(names, str):
        names = DEFAULT_SUITE if names == "default" else (names,)
    loaded: list[Task] = []
    for name in names:
        if name.startswith("kernelbench:"):  # a KernelBench checkout's problem files, unchanged
            loaded += importlib.import_module("rsigym.envs.kernels.kernelbench").load_kernelbench(name.split(":", 1)[1])
            continue
        if name not in SUITES:
            close = difflib.get_close_matches(name, SUITES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown suite {name!r}; known suites: {sorted(SUITES)}.{hint}")
        loaded += importlib.import_module(SUITES[name]).load_tasks()
    if tasks is not None:
        by_id = {task.id: task for task in loaded}
        unknown = [t for t in tasks if t not in by_id]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], by_id, n=1)
            raise ValueError(
                f"unknown task {unknown[0]!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Available: {sorted(by_id)}"
            )
        loaded = [by_id[t] for t in tasks]
    ids = [task.id for task in loaded]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate task ids in suite: {ids}")
    return loaded
