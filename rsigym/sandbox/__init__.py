"""Sandbox providers. ``make_sandbox("local")`` is the embedded default.

Providers are registered by name (:data:`PROVIDERS`, :func:`register_sandbox`), as Gymnasium
registers environments. :func:`make_sandbox` takes a name, a spec (``Sandbox.spec()``, plain
JSON data) or a sandbox, and ``make_sandbox(sandbox.spec()) == sandbox``. A spec names its
provider's class by entry point, so it rebuilds a custom provider in a process where nobody
registered it (a resumed run, a Ray worker): like a Gymnasium entry point it names code to
import, so take specs from your own code or the run's trusted state only.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Mapping

from rsigym.sandbox.base import ExecResult, InfraError, Limits, Sandbox, spec_key
from rsigym.sandbox.local import LocalSandbox

# name -> entry point "module:Class" (imported on first use: docker needs its SDK) or the class.
PROVIDERS: dict[str, str | type[Sandbox]] = {
    "local": "rsigym.sandbox.local:LocalSandbox",
    "docker": "rsigym.sandbox.docker:DockerSandbox",
}


def register_sandbox(name: str, entry_point: str | type[Sandbox]) -> None:
    """Make ``make_sandbox(name)`` build the provider ``entry_point`` (``"module:Class"`` or the class).

    The class's ``name`` attribute must be ``name``, so that its specs name it too."""
    if not isinstance(entry_point, str) and getattr(entry_point, "name", None) != name:
        raise ValueError(f"{entry_point.__name__}.name is {getattr(entry_point, 'name', None)!r}, not {name!r}")
    PROVIDERS[name] = entry_point


def provider_class(name: str, entry_point: str | None = None) -> type[Sandbox]:
    """The sandbox class of provider ``name``: from ``entry_point`` when given, else the registry."""
    if entry_point is None:
        if name not in PROVIDERS:
            close = difflib.get_close_matches(str(name), [str(key) for key in PROVIDERS], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown sandbox {name!r}; choose one of {sorted(PROVIDERS)} or register yours with "
                f"rsigym.sandbox.register_sandbox.{hint}")
        entry_point = PROVIDERS[name]  # type: ignore[assignment]
    if not isinstance(entry_point, str):
        cls = entry_point
    else:
        module_name, _, class_name = entry_point.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ImportError(
                f"the {name!r} sandbox needs extra packages ({err}); pip install 'rsigym[{name}]'"
            ) from err
        cls = module
        for part in class_name.split("."):
            cls = getattr(cls, part, None)
            if cls is None:
                raise ValueError(f"sandbox entry point {entry_point!r} names nothing in {module_name}")
    if not (isinstance(cls, type) and issubclass(cls, Sandbox)):
        raise ValueError(f"sandbox entry point {entry_point!r} is not a Sandbox class")
    if cls.name != name:
        raise ValueError(f"sandbox entry point {entry_point!r} is provider {cls.name!r}, not {name!r}")
    return cls


def make_sandbox(spec: str | Mapping[str, Any] | Sandbox, **kwargs: Any) -> Sandbox:
    """A sandbox from a provider name (``"local"``, ``"docker"``, a registered one) with
    constructor ``kwargs``, from a spec (``Sandbox.spec()``; ``kwargs`` override its settings),
    or the sandbox passed."""
    if isinstance(spec, Sandbox):
        return spec
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"provider", "entry_point", "settings"})
        if unknown or "provider" not in spec:
            raise ValueError(f"a sandbox spec holds 'provider' and optionally 'entry_point' and 'settings', not {dict(spec)!r}")
        cls = provider_class(spec["provider"], spec.get("entry_point"))
        return cls(**{**dict(spec.get("settings") or {}), **kwargs})
    return provider_class(spec)(**kwargs)


__all__ = ["ExecResult", "InfraError", "Limits", "Sandbox", "LocalSandbox", "make_sandbox", "register_sandbox", "provider_class",
           "spec_key", "PROVIDERS"]
