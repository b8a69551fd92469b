"""The shared conformance suite, run for real against every provider.

A check named in a provider's ``known_gaps`` (the local sandbox's process mode, see
docs/sandboxes.md) must still fail: if it passes, the documented list is stale.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rsigym.sandbox import ExecResult, Limits, Sandbox
from rsigym.sandbox.conformance import (
    CHECKS,
    ConformanceError,
    run_check,
    run_conformance,
)


@pytest.mark.parametrize("check", list(CHECKS))
def test_provider_conforms(sandbox: Sandbox, check: str, tmp_path: Path):
    if check in getattr(sandbox, "known_gaps", frozenset()):
        with pytest.raises(ConformanceError):
            run_check(sandbox, check, tmp_path)
    else:
        run_check(sandbox, check, tmp_path)


class _NoOpSandbox(Sandbox):
    """Claims success for everything and runs nothing: a provider the suite must reject."""

    name = "no-op"

    def run(self, cmd, cwd, timeout, env=None, limits: Limits | None = None, readonly=(), workdir=".") -> ExecResult:
        return ExecResult(0, "", "", 0.0)


def test_suite_reports_every_check_a_broken_provider_fails(tmp_path: Path):
    report = run_conformance(_NoOpSandbox(), tmp_path)
    # Every check needs evidence that its probe ran, so a provider that runs nothing passes none.
    assert set(report.failures) == set(CHECKS)
    assert not report.passed and "FAIL exit_status" in report.summary()


def test_suite_skips_what_it_is_told(tmp_path: Path):
    report = run_conformance(_NoOpSandbox(), tmp_path, skip=[name for name in CHECKS if name != "exit_status"])
    assert list(report.results) == ["exit_status"]
