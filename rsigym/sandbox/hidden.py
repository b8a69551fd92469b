"""Host paths that confined sandboxes hide: data a task's grader uses that ships inside
software the sandbox can run (scikit-learn's bundled datasets, standard-library sources).

A task declares these as *leak sources* in its spec (``TaskSpec.leak_sources``), written
``"<package>:<path inside the package>"`` (for example ``"sklearn:datasets/data"``) or
``"stdlib:<path inside the standard library>"`` (for example ``"stdlib:idlelib"``). Loading
the task registers them here; every confined run of :class:`~rsigym.sandbox.local.LocalSandbox`
in the process then sees an empty read-only folder (or an empty file) in their place. The
docker image is built without them (``docker/Dockerfile``); ``process`` mode cannot hide
anything, which is why it reports weak integrity.
"""
from __future__ import annotations

import importlib.util
import sysconfig
import threading
from pathlib import Path
from typing import Iterable

_lock = threading.Lock()
_declared: set[str] = set()


def parse_leak_source(source: str) -> tuple[str, str]:
    """Split ``"<package>:<path>"``; ``ValueError`` for anything else."""
    package, sep, inner = source.partition(":")
    if not sep or not package.isidentifier() or ".." in Path(inner).parts or inner.startswith("/"):
        raise ValueError(f"leak source {source!r} must read '<package>:<relative path>' or 'stdlib:<relative path>'")
    return package, inner


def resolve_leak_source(source: str) -> Path | None:
    """The host path a leak source names, or ``None`` when that package or path is not installed.
    The package is located without being imported."""
    package, inner = parse_leak_source(source)
    if package == "stdlib":
        base = Path(sysconfig.get_paths()["stdlib"])
    else:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        base = Path(list(spec.submodule_search_locations)[0])
    path = (base / inner).resolve() if inner else base.resolve()
    return path if path.exists() else None


def hide_leak_sources(sources: Iterable[str]) -> None:
    """Hide ``sources`` from every confined sandbox run of this process from now on."""
    sources = list(sources)
    for source in sources:
        parse_leak_source(source)
    with _lock:
        _declared.update(sources)


def hidden_paths() -> list[str]:
    """The host paths of every declared leak source that exists here, sorted."""
    with _lock:
        declared = sorted(_declared)
    return sorted({str(path) for path in map(resolve_leak_source, declared) if path is not None})
