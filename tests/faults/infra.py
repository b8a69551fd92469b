"""Fault injection for infrastructure failures: a sandbox the host fails on demand."""
from __future__ import annotations

import uuid

from rsigym.sandbox import InfraError, LocalSandbox


class FlakySandbox(LocalSandbox):
    """The local sandbox, except that the next ``failures`` runs fail as an unreachable engine would."""

    def __init__(self, failures: int = 0):
        super().__init__()
        self.name = f"flaky-local-{uuid.uuid4().hex[:8]}"  # grades of its own: no other env's cache entry serves it
        self.failures = failures

    def run(self, *args, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise InfraError("injected: the sandbox engine is unreachable")
        return super().run(*args, **kwargs)
