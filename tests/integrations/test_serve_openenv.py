"""`rsigym serve --openenv` with openenv-core's own client, on loopback."""
from __future__ import annotations

import asyncio

import pytest

openenv_client = pytest.importorskip("openenv.core.generic_client")

from tests.integrations._serve_support import BETTER_WINE_CONFIG, WINE, http_server, run_dirs, wait_until  # noqa: E402

from rsigym.actions import OP_SPECS  # noqa: E402
from rsigym.integrations.openenv_server import build_app  # noqa: E402

GenericEnvClient = openenv_client.GenericEnvClient


async def play_better_config(url: str) -> tuple[float, list[float], float, dict]:
    """reset, write the better config (auto-evaluated), submit: ``(L0, rewards, L_final, last observation)``."""
    async with GenericEnvClient(base_url=url, message_timeout_s=300) as env:
        first = await env.reset()
        start = first.observation["loss"]
        rewards = []
        result = await env.step({"op": "write", "path": "tasks/wine/config.json", "content": BETTER_WINE_CONFIG})
        rewards.append(result.reward)
        assert not result.done
        result = await env.step({"op": "submit"})
        rewards.append(result.reward)
        assert result.done and result.observation["terminated"]
        state = await env.state()
        assert state["step_count"] == 2 and state["done"]
        return start, rewards, result.observation["loss"], result.observation


TOKEN = "test-token-7c1e"


def test_the_action_schema_is_the_action_protocol():
    from starlette.testclient import TestClient

    schema = TestClient(build_app("RSI-MLE-v0", {"suite": "toy", "tasks": ["wine"]})).get("/schema").json()["action"]
    assert schema["properties"]["op"]["enum"] == list(OP_SPECS)
    fields = {key for spec in OP_SPECS.values() for key in spec.fields}
    assert set(schema["properties"]) == {"op", "metadata", *fields}
    assert schema["required"] == ["op"] and schema["additionalProperties"] is False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module, with a token: the clients send it as the password in the address."""
    tmp = tmp_path_factory.mktemp("openenv")
    with http_server(tmp, *WINE, "--openenv", "--token", TOKEN) as url:
        yield url.replace("http://", f"http://rsigym:{TOKEN}@"), tmp / "tmp"


@pytest.mark.slow
def test_an_openenv_client_plays_an_episode_that_lowers_the_loss(server):
    url, _ = server
    start, rewards, final, last = asyncio.run(play_better_config(url))
    assert final < start
    assert sum(rewards) == pytest.approx(start - final)
    assert "private_loss" in last["info"] and "run_dir" not in last["info"]


@pytest.mark.slow
def test_eight_concurrent_sessions_each_have_rewards_that_telescope(server):
    url, _ = server

    async def eight():
        return await asyncio.gather(*(play_better_config(url) for _ in range(8)))

    for start, rewards, final, _ in asyncio.run(eight()):
        assert final < start
        assert sum(rewards) == pytest.approx(start - final)


@pytest.mark.slow
def test_a_bad_action_is_answered_and_the_session_goes_on(server):
    url, _ = server

    async def play():
        async with GenericEnvClient(base_url=url, message_timeout_s=300) as env:
            await env.reset()
            with pytest.raises(RuntimeError, match="Invalid message|validation"):
                await env.step({"op": "write", "pth": "x"})  # no such field: refused before the env
            refused = await env.step({"op": "read"})  # fits the schema, but read needs a path: the env says so
            assert "needs field 'path'" in refused.observation["text"]
            fine = await env.step({"op": "read", "path": "tasks/wine/config.json"})
            assert '"knn"' in fine.observation["text"]

    asyncio.run(play())


@pytest.mark.slow
def test_a_disconnect_closes_the_session_env_and_removes_its_run_directory(server):
    url, tmp = server
    before = set(run_dirs(tmp))

    async def connect_and_leave():
        env = GenericEnvClient(base_url=url, message_timeout_s=300)
        await env.connect()
        await env.reset()
        assert len(set(run_dirs(tmp)) - before) == 1  # this session's env made its run directory
        await env._ws.close()  # noqa: SLF001  (drop the socket without a goodbye, as a crashed client does)

    asyncio.run(connect_and_leave())
    wait_until(lambda: not set(run_dirs(tmp)) - before, 60, "the session's run directory to be removed")


@pytest.mark.slow
def test_a_client_without_the_token_is_refused(server):
    url, _ = server

    async def connect(address):
        async with GenericEnvClient(base_url=address) as env:
            return await env.state()

    for wrong in (url.replace(TOKEN, "not-the-token"), url.replace(f"rsigym:{TOKEN}@", "")):
        with pytest.raises(ConnectionError, match="403"):
            asyncio.run(connect(wrong))
    assert asyncio.run(connect(url))["step_count"] == 0
