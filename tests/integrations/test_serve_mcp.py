"""`rsigym serve --mcp stdio|http` with the mcp package's own client, on loopback."""
from __future__ import annotations

import asyncio
import sys

import pytest

mcp = pytest.importorskip("mcp")
httpx2 = pytest.importorskip("httpx2")

from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from rsigym.actions import OP_SPECS  # noqa: E402
from rsigym.integrations.mcp_server import tool_list  # noqa: E402
from tests.integrations._serve_support import (  # noqa: E402
    BETTER_WINE_CONFIG, WINE, http_server, run_dirs, server_env, wait_until)

TOKEN = "test-token-3f9a"


async def play_better_config(client: Client) -> tuple[float, list[float], float]:
    """reset, write the better config (auto-evaluated), submit: ``(L0, rewards, L_final)``."""
    reset = await client.call_tool("reset", {})
    assert not reset.is_error, reset.content
    start = reset.structured_content["loss"]
    rewards = []
    write = await client.call_tool("write", {"path": "tasks/wine/config.json", "content": BETTER_WINE_CONFIG})
    assert not write.is_error and not write.structured_content["terminated"]
    rewards.append(write.structured_content["reward"])
    submit = await client.call_tool("submit", {})
    assert submit.structured_content["terminated"]
    assert "Episode over" in submit.content[0].text
    rewards.append(submit.structured_content["reward"])
    return start, rewards, submit.structured_content["loss"]


def http_client(url: str, token: str | None = TOKEN, terminate_on_close: bool = True) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    session = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(f"{url}/mcp", http_client=session, terminate_on_close=terminate_on_close))


# -- fast: what needs no server ------------------------------------------------------------------------
def test_the_tools_are_the_ops_of_the_action_protocol_and_reset():
    tools = {tool.name: tool for tool in tool_list()}
    assert list(tools) == [*OP_SPECS, "reset"]
    for name, spec in OP_SPECS.items():
        schema = tools[name].input_schema
        assert set(schema["properties"]) == set(spec.fields)
        assert set(schema["required"]) == {key for key, field in spec.fields.items() if field.required}
        assert schema["additionalProperties"] is False


# -- stdio: the server is a child process of the client ---------------------------------------------------
@pytest.mark.slow
def test_an_mcp_client_over_stdio_plays_an_episode_that_lowers_the_loss(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "rsigym", "serve", *WINE, "--mcp", "stdio"],
                                   env=server_env(tmp_path))

    async def play():
        async with Client(stdio_client(params), read_timeout_seconds=300) as client:
            assert [tool.name for tool in (await client.list_tools()).tools] == [*OP_SPECS, "reset"]
            uris = [str(resource.uri) for resource in (await client.list_resources()).resources]
            assert uris == ["rsigym://tasks/wine", "rsigym://workspace"]
            description = await client.read_resource("rsigym://tasks/wine")
            assert "Wine" in description.contents[0].text
            tree = await client.read_resource("rsigym://workspace")
            assert "tasks/wine/config.json" in tree.contents[0].text
            assert len(run_dirs(tmp_path)) == 1  # this session's env
            bad = await client.call_tool("read", {"pth": "tasks/wine/config.json"})
            assert bad.is_error and "Did you mean 'path'" in bad.content[0].text
            unknown = await client.call_tool("delete_everything", {})
            assert unknown.is_error
            start, rewards, final = await play_better_config(client)  # the session goes on
            assert final < start
            assert sum(rewards) == pytest.approx(start - final)

    asyncio.run(play())
    wait_until(lambda: not run_dirs(tmp_path), 60, "the session's run directory to be removed")


# -- streamable HTTP: one server, many sessions -----------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-http")
    with http_server(tmp, *WINE, "--mcp", "http", "--token", TOKEN) as url:
        yield url, tmp / "tmp"


@pytest.mark.slow
def test_an_mcp_client_over_http_plays_an_episode_that_lowers_the_loss(server):
    url, _ = server

    async def play():
        async with http_client(url) as client:
            return await play_better_config(client)

    start, rewards, final = asyncio.run(play())
    assert final < start
    assert sum(rewards) == pytest.approx(start - final)


@pytest.mark.slow
def test_eight_concurrent_mcp_sessions_each_have_rewards_that_telescope(server):
    url, _ = server

    async def one():
        async with http_client(url) as client:
            return await play_better_config(client)

    async def eight():
        return await asyncio.gather(*(one() for _ in range(8)))

    for start, rewards, final in asyncio.run(eight()):
        assert final < start
        assert sum(rewards) == pytest.approx(start - final)


@pytest.mark.slow
def test_a_client_that_ends_its_session_has_its_env_torn_down(server):
    url, tmp = server
    before = set(run_dirs(tmp))

    async def visit():
        async with http_client(url) as client:
            await client.call_tool("read", {"path": "harness/memory.md"})  # starts the episode
            assert len(set(run_dirs(tmp)) - before) == 1

    asyncio.run(visit())
    wait_until(lambda: not set(run_dirs(tmp)) - before, 60, "the session's run directory to be removed")


@pytest.mark.slow
def test_requests_without_the_token_are_refused(server):
    url, _ = server
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx2.post(f"{url}/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401

    async def tools(token):
        async with http_client(url, token=token) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with pytest.raises(BaseException) as refused:
        asyncio.run(tools(None))
    assert "MCPError" in repr(refused.value)
    assert "submit" in asyncio.run(tools(TOKEN))
