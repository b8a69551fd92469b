"""Fixtures of the red-team suite: arenas on the fast tasks, under the env's default sandbox
and, for attacks on the sandbox itself, under docker too (marked ``docker``; skipped without
an engine and image, failed instead when ``RSIGYM_REQUIRE_DOCKER=1``)."""
from __future__ import annotations

import pytest

from tests.redteam.arena import Arena
from tests.sandbox.conftest import docker_or_skip

SANDBOXES = [pytest.param("local", id="local"), pytest.param("docker", id="docker", marks=pytest.mark.docker)]


@pytest.fixture(scope="session")
def docker_sandbox():
    return docker_or_skip()


@pytest.fixture
def arena(make_env) -> Arena:
    """An arena under the env's default sandbox (``"local"``, as ``gym.make`` builds it)."""
    return Arena(make_env(iterations=20))


@pytest.fixture(params=SANDBOXES)
def sandboxed_arena(request, make_env) -> Arena:
    """An arena per sandbox provider, for the attacks aimed at the sandbox."""
    sandbox = "local" if request.param == "local" else request.getfixturevalue("docker_sandbox")
    return Arena(make_env(iterations=20, sandbox=sandbox))
