"""The suite registry: suite names mapped to ``"module:function"`` entry points, Gymnasium-style.

A suite is a function that returns its tasks (``load_tasks() -> list[Task]``). It is registered
by name with :func:`register_suite` as a string, so the core never imports a suite until one is
loaded: the built-in suites below are plain data, and a third-party package registers its own
with one call::

    from rsigym.registry import register_suite
    register_suite("mine", "my_package.suite:load_tasks")
    gym.make("RSI-MLE-v0", suite="mine")

A parametrised suite's entry point takes one string argument, given after a colon in the suite
name: ``"kernelbench:/path/to/KernelBench"`` calls ``load_kernelbench("/path/to/KernelBench")``.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from rsigym.tasks import Task

DEFAULT = "default"  # the suite name that means every suite registered with default=True


@dataclass(frozen=True)
class SuiteEntry:
    """One registered suite: where its loader is, and whether the default suite includes it."""

    name: str
    entry_point: str  # "module:function"
    default: bool = False
    takes_argument: bool = False  # loaded as "name:argument", the argument passed to the function


_SUITES: dict[str, SuiteEntry] = {}


def register_suite(name: str, entry_point: str, *, default: bool = False, takes_argument: bool = False) -> None:
    """Register suite ``name``, loaded by calling ``entry_point`` (``"module:function"``).

    ``default``: the ``"default"`` suite (every category the product covers) includes it.
    ``takes_argument``: the suite is named ``"name:argument"`` and the function is called with
    the argument (a path, say). Registering a name again replaces the earlier entry.
    """
    module_name, sep, function = entry_point.partition(":")
    if not sep or not module_name or not function:
        raise ValueError(f"suite {name!r}: entry point {entry_point!r} is not 'module:function'")
    if not name or ":" in name or name == DEFAULT:
        raise ValueError(f"suite name {name!r} is empty, contains ':' or is reserved")
    _SUITES[name] = SuiteEntry(name, entry_point, default, takes_argument)


def suite_names() -> list[str]:
    """The registered suite names, sorted."""
    return sorted(_SUITES)


def default_suite() -> tuple[str, ...]:
    """The suites ``"default"`` stands for, in registration order."""
    return tuple(entry.name for entry in _SUITES.values() if entry.default)


def suite_entry(name: str) -> SuiteEntry:
    """The registration of suite ``name`` (its part before a colon); ValueError with a close match if unknown."""
    base = name.split(":", 1)[0]
    if base not in _SUITES:
        close = difflib.get_close_matches(base, _SUITES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown suite {name!r}; known suites: {suite_names()}.{hint}")
    return _SUITES[base]


def _loader(entry: SuiteEntry) -> Callable[..., list[Task]]:
    module_name, _, function = entry.entry_point.partition(":")
    loader = importlib.import_module(module_name)
    for part in function.split("."):
        loader = getattr(loader, part)
    return loader


def _load_one(name: str) -> list[Task]:
    entry = suite_entry(name)
    base, sep, argument = name.partition(":")
    if entry.takes_argument != bool(sep):
        form = f"'{base}:ARGUMENT'" if entry.takes_argument else repr(base)
        raise ValueError(f"suite {name!r}: write it as {form}")
    return list(_loader(entry)(argument) if entry.takes_argument else _loader(entry)())


def load_suite(names: str | Iterable[str] = DEFAULT, tasks: Sequence[str] | None = None) -> list[Task]:
    """Tasks of one or more suites (``"default"`` = :func:`default_suite`), optionally filtered by task id."""
    if isinstance(names, str):
        names = default_suite() if names == DEFAULT else (names,)
    loaded: list[Task] = []
    for name in names:
        loaded += _load_one(name)
    if tasks is not None:
        by_id = {task.id: task for task in loaded}
        unknown = [t for t in tasks if t not in by_id]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], by_id, n=1)
            elsewhere = _suite_holding(unknown[0], exclude=names)
            raise ValueError(
                f"unknown task {unknown[0]!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + (f"; it is in suite {elsewhere!r}: pass suite={elsewhere!r}" if elsewhere else "")
                + f" Available: {sorted(by_id)}"
            )
        loaded = [by_id[t] for t in tasks]
    ids = [task.id for task in loaded]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate task ids in suite: {ids}")
    return loaded


def _suite_holding(task_id: str, exclude: Iterable[str]) -> str | None:
    """The first other registered suite that holds ``task_id`` (for the error of a task asked of
    the wrong suite; a suite that fails to load here is skipped: the error is about the task)."""
    for name in suite_names():
        if name in exclude or _SUITES[name].takes_argument:
            continue
        try:
            if any(task.id == task_id for task in _load_one(name)):
                return name
        except Exception:  # noqa: BLE001 - only a hint
            continue
    return None


# The built-in suites, one line each. Entry points are strings: the core imports no suite package.
register_suite("kaggle", "rsigym.envs.kaggle:load_tasks", default=True)
register_suite("toy", "rsigym.envs.toy:load_tasks")  # small, leaky: for fast tests, never a benchmark
register_suite("kernels", "rsigym.envs.kernels:load_tasks", default=True)
register_suite("pretrain", "rsigym.envs.pretrain:load_tasks", default=True)
register_suite("posttrain", "rsigym.envs.posttrain:load_tasks", default=True)
register_suite("kernelbench", "rsigym.envs.kernels.kernelbench:load_kernelbench", takes_argument=True)
