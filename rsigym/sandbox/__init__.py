"""Sandbox providers. ``make_sandbox("local")`` is the embedded default."""
from __future__ import annotations

from rsigym.sandbox.base import ExecResult, InfraError, Limits, Sandbox
from rsigym.sandbox.local import LocalSandbox

PROVIDERS: dict[str, str] = {
    "local": "rsigym.sandbox.local:LocalSandbox",
    "docker": "rsigym.sandbox.docker:DockerSandbox",
}


def make_sandbox(spec: str | Sandbox, **kwargs) -> Sandbox:
    """Return a sandbox from a provider name (``"local"``, ``"docker"``) or pass one through."""
    if isinstance(spec, Sandbox):
        return spec
    if spec not in PROVIDERS:
        import difflib

        close = difflib.get_close_matches(str(spec), PROVIDERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown sandbox {spec!r}; choose one of {sorted(PROVIDERS)}.{hint}")
    module_name, class_name = PROVIDERS[spec].split(":")
    try:
        import importlib

        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(
            f"the {spec!r} sandbox needs extra packages ({err}); pip install 'rsigym[{spec}]'"
        ) from err
    return getattr(module, class_name)(**kwargs)


__all__ = ["ExecResult", "InfraError", "Limits", "Sandbox", "LocalSandbox", "make_sandbox", "PROVIDERS"]
