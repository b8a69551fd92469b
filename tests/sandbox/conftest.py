"""Sandbox providers for the tests: ``local`` (confined where it can be), ``local-process``
(the fallback mode, with its documented gaps), each with Python forked warm (the default)
and started cold (``-cold``), and ``docker`` (marked ``docker``; skipped without an engine
and image, failed instead when ``RSIGYM_REQUIRE_DOCKER=1``)."""
from __future__ import annotations

import os

import pytest

from rsigym.sandbox import LocalSandbox, Sandbox

PROVIDERS = [
    pytest.param("local", id="local"),
    pytest.param("local-cold", id="local-cold"),
    pytest.param("local-process", id="local-process"),
    pytest.param("local-process-cold", id="local-process-cold"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


def docker_or_skip() -> Sandbox:
    """A ``DockerSandbox``, or a skip (a failure under ``RSIGYM_REQUIRE_DOCKER=1``) saying why not."""
    try:
        from rsigym.sandbox.docker import DockerSandbox

        return DockerSandbox()
    except (ImportError, RuntimeError) as err:
        if os.environ.get("RSIGYM_REQUIRE_DOCKER") == "1":
            pytest.fail(f"RSIGYM_REQUIRE_DOCKER=1 but the docker sandbox is unusable: {err}")
        pytest.skip(f"docker sandbox unusable: {err}")


@pytest.fixture(scope="session")
def docker_sandbox() -> Sandbox:
    return docker_or_skip()


@pytest.fixture(scope="session", params=PROVIDERS)
def sandbox(request) -> Sandbox:
    if request.param == "docker":
        return request.getfixturevalue("docker_sandbox")
    name = request.param
    return LocalSandbox(confine=False if "process" in name else "auto", warm=not name.endswith("-cold"))
