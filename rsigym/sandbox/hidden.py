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

import functools
import importlib.util
import os
import re
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


# Folders where other Python installations keep their files (a system Python, one bundled with
# a tool): their copies of a leak source hold the same data, so they are hidden too.
_PYTHON_SEARCH_ROOTS = ("/usr", "/opt")
_PYTHON_SEARCH_DEPTH = 8


@functools.lru_cache(maxsize=1)
def python_installations() -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Standard libraries (folders ``python3.N`` holding ``os.py``) and package folders
    (``site-packages``, ``dist-packages``) of every Python under /usr and /opt; this
    interpreter's first."""
    libraries = [Path(sysconfig.get_paths()["stdlib"]).resolve()]
    packages = [Path(sysconfig.get_paths()["purelib"]).resolve()]
    for root in _PYTHON_SEARCH_ROOTS:
        base_depth = root.rstrip("/").count("/")
        for folder, subfolders, names in os.walk(root, onerror=lambda err: None):
            if folder.count("/") - base_depth >= _PYTHON_SEARCH_DEPTH:
                subfolders[:] = []
            name = os.path.basename(folder)
            if name in ("site-packages", "dist-packages"):
                packages.append(Path(folder).resolve())
                subfolders[:] = []
            elif re.fullmatch(r"python3\.\d+", name) and "os.py" in names:
                libraries.append(Path(folder).resolve())
    packages += [library / "site-packages" for library in libraries if (library / "site-packages").is_dir()]
    return tuple(dict.fromkeys(libraries)), tuple(dict.fromkeys(packages))


def resolve_leak_source(source: str) -> list[Path]:
    """The host paths a leak source names, in this interpreter and in every other Python on the
    host (another copy holds the same data); none when it is not installed anywhere. Packages
    are located without being imported."""
    package, inner = parse_leak_source(source)
    libraries, package_dirs = python_installations()
    if package == "stdlib":
        bases = list(libraries)
    else:
        bases = [folder / package for folder in package_dirs]
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            bases.insert(0, Path(list(spec.submodule_search_locations)[0]))
    paths = [(base / inner).resolve() if inner else base.resolve() for base in bases]
    return [path for path in dict.fromkeys(paths) if path.exists()]


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
    return sorted({str(path) for source in declared for path in resolve_leak_source(source)})
