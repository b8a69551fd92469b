"""Who may talk to `rsigym serve`: loopback without a token, anywhere else only with one."""
from __future__ import annotations

import base64

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rsigym.cli import main
from rsigym.integrations.serve import LoopbackGuard, TokenGate, is_loopback, serve_token
from tests.integrations._serve_support import WINE


async def hello(request):
    return PlainTextResponse("hello")


async def echo(websocket):
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


APP = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("10.1.2.3", False), ("my-host.example", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_token_is_needed_off_loopback_only(monkeypatch):
    monkeypatch.delenv("RSIGYM_SERVE_TOKEN", raising=False)
    assert serve_token("127.0.0.1", None) is None
    with pytest.raises(ValueError, match="without a token"):
        serve_token("0.0.0.0", None)
    assert serve_token("0.0.0.0", "secret") == "secret"
    monkeypatch.setenv("RSIGYM_SERVE_TOKEN", "from-env")
    assert serve_token("0.0.0.0", None) == "from-env"


@pytest.mark.parametrize("mode", [["--mcp", "http"], ["--openenv"]])
def test_serve_refuses_a_non_loopback_host_without_a_token(mode, monkeypatch, capsys):
    monkeypatch.delenv("RSIGYM_SERVE_TOKEN", raising=False)
    assert main(["serve", *WINE, *mode, "--host", "0.0.0.0"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_the_token_gate_checks_every_request_and_handshake():
    client = TestClient(TokenGate(APP, "s3cret"))
    basic = base64.b64encode(b"rsigym:s3cret").decode()
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).text == "hello"
    assert client.get("/", headers={"Authorization": f"Basic {basic}"}).text == "hello"
    for headers in ({}, {"Authorization": "Bearer s3cre"}, {"Authorization": "Basic !!"},
                    {"Authorization": "Basic " + base64.b64encode(b"s3cret:").decode()}):
        assert client.get("/", headers=headers).status_code == 401
    with client.websocket_connect("/ws", headers={"Authorization": "Bearer s3cret"}) as ws:
        assert ws.receive_text() == "hello"
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws") as ws:
            ws.receive_text()


def test_without_a_token_only_this_machine_gets_through():
    client = TestClient(LoopbackGuard(APP), base_url="http://127.0.0.1:8000")
    assert client.get("/").text == "hello"
    assert client.get("/", headers={"Origin": "http://localhost:3000"}).text == "hello"
    assert client.get("/", headers={"Host": "attacker.example:8000"}).status_code == 403  # DNS rebinding
    assert client.get("/", headers={"Origin": "https://attacker.example"}).status_code == 403
    with pytest.raises(WebSocketDisconnect):  # a web page's WebSocket to 127.0.0.1
        with client.websocket_connect("ws://127.0.0.1:8000/ws", headers={"Origin": "https://attacker.example"}) as ws:
            ws.receive_text()
    with client.websocket_connect("ws://127.0.0.1:8000/ws") as ws:
        assert ws.receive_text() == "hello"
