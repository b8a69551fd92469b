"""``rsigym serve ENV``: serve an rsigym env to agents over MCP (stdio or streamable HTTP) or as
an OpenEnv environment server (HTTP and WebSocket). docs/integrations.md shows the client side.

Every client session gets its own episode: its own env, run directory and sandbox, closed when
the client disconnects. The HTTP servers listen on 127.0.0.1 unless told otherwise; on any
other address they need a token (``--token`` or ``RSIGYM_SERVE_TOKEN``), which every request
must carry as ``Authorization: Bearer TOKEN`` (or as the password of HTTP Basic auth, which is
what a WebSocket client sends for a ``ws://user:TOKEN@host`` address). Without a token, only
requests for a loopback ``Host`` and with no foreign ``Origin`` are served (:class:`LoopbackGuard`).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

from rsigym.scales import SCALES

TOKEN_ENV = "RSIGYM_SERVE_TOKEN"
DEFAULT_PORT = 8000
# Env keywords that `rsigym serve` sets from its own flags (so --env-kwargs may not set them).
SERVE_FLAGS = {"suite": "--suite", "tasks": "--tasks", "iterations": "--iterations", "scale": "--scale",
               "sandbox": "--sandbox", "agent": "--agent", "model": "--model", "workers": "--workers",
               "run_dir": "--out"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only (a name other than localhost counts as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_token(host: str, token: str | None) -> str | None:
    """The token requests must carry: ``token``, else ``$RSIGYM_SERVE_TOKEN``, else none, which only a
    loopback host may do without. Raises ``ValueError`` for a non-loopback host without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise ValueError(f"refusing to serve on {host} without a token: anyone who can reach it could run code "
                         f"in the sandbox and read the episode; pass --token or set {TOKEN_ENV}")
    return token


def _presented_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token in an ``Authorization`` header: a Bearer token, or the password of Basic auth."""
    value = next((v.decode("latin-1") for k, v in headers if k == b"authorization"), "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


class TokenGate:
    """ASGI middleware: every HTTP request and WebSocket handshake must present ``token``."""

    def __init__(self, app: Any, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            presented = _presented_token(scope.get("headers", []))
            if presented is None or not hmac.compare_digest(presented.encode(), self.token):
                await _refuse(scope, send, 401, "missing or wrong token (Authorization: Bearer TOKEN)",
                              [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _host_name(value: str) -> str:
    """The host part of a ``Host`` header or of an ``Origin`` URL, without scheme and port."""
    value = value.partition("://")[2] if "://" in value else value
    if value.startswith("["):
        return value[:value.find("]") + 1]
    return value.partition(":")[0]


class LoopbackGuard:
    """ASGI middleware for a server without a token on a loopback address: only requests made for
    a loopback name, and not from a web page of another origin, get through. A browser lets any
    page open a WebSocket to 127.0.0.1 or resolve its own name to it (DNS rebinding); without
    this check such a page could play episodes, and run code in the sandbox, as the user."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            origin = headers.get("origin")
            if (_host_name(headers.get("host", "")) not in _LOOPBACK_NAMES
                    or (origin is not None and _host_name(origin) not in _LOOPBACK_NAMES)):
                await _refuse(scope, send, 403, "requests to this server must come from this machine "
                                                "(a loopback Host and no foreign Origin)")
                return
        await self.app(scope, receive, send)


async def _refuse(scope: dict, send: Any, status: int, message: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra]})
    await send({"type": "http.response.body", "body": json.dumps({"error": message}).encode()})


def env_kwargs_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``gym.make`` keywords the flags give (only those set), then ``--env-kwargs``."""
    from rsigym.runs import check_env_kwargs

    kwargs = {key: value for key in ("suite", "tasks", "iterations", "scale", "sandbox", "agent", "model", "workers")
              if (value := getattr(args, key)) is not None}
    check_env_kwargs(args.env_id, args.env_kwargs, SERVE_FLAGS)
    return {**kwargs, **args.env_kwargs}


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve ``args.env_id`` until interrupted (MCP stdio: until the client closes stdin)."""
    import functools

    kwargs = env_kwargs_of(args)
    run_root = Path(args.out).resolve() if args.out else None
    token = serve_token(args.host, args.token) if args.openenv or args.mcp == "http" else None
    if args.openenv:
        from rsigym.integrations.openenv_server import build_app

        app = build_app(args.env_id, kwargs, seed=args.seed, run_root=run_root, max_sessions=args.max_sessions)
        return _serve_http(app, args.host, args.port, token, f"OpenEnv server for {args.env_id}")

    from rsigym.integrations.mcp_server import http_app, serve_stdio
    from rsigym.integrations.session import EpisodeSession

    factory = functools.partial(EpisodeSession, args.env_id, kwargs, seed=args.seed, run_root=run_root)
    if args.mcp == "http":
        app = http_app(factory, args.host, args.idle_timeout)
        return _serve_http(app, args.host, args.port, token, f"MCP server for {args.env_id} at /mcp")
    import anyio

    anyio.run(serve_stdio, factory)
    return 0


def _serve_http(app: Any, host: str, port: int, token: str | None, what: str) -> int:
    import uvicorn

    app = TokenGate(app, token) if token is not None else LoopbackGuard(app)
    shown = f"[{host}]" if ":" in host else host
    print(f"rsigym serve: {what} on http://{shown}:{port}"
          + (" (token required)" if token else ""), file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``rsigym`` command line."""
    from rsigym.cli import json_object

    serve = subparsers.add_parser(
        "serve", help="serve an env to agents: MCP (stdio or HTTP) or an OpenEnv server",
        description="Serve ENV to agents, one episode per client session (its own run directory and "
                    "sandbox, closed when the client disconnects). Default: MCP over stdio, for an MCP "
                    "client that starts this command. HTTP servers bind 127.0.0.1 unless --host says "
                    f"otherwise; any other host needs a token (--token or ${TOKEN_ENV}). "
                    "See docs/integrations.md.")
    serve.add_argument("env_id", nargs="?", default="RSI-MLE-v0", metavar="ENV")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--mcp", choices=["stdio", "http"], default="stdio",
                      help="MCP transport: stdio (default) or streamable HTTP at /mcp")
    mode.add_argument("--openenv", action="store_true", help="an OpenEnv server (reset/step/state, WebSocket /ws)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (HTTP); default 127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (HTTP); default {DEFAULT_PORT}")
    serve.add_argument("--token", default=None, help=f"the token every request must carry (default ${TOKEN_ENV}); "
                                                     "required on a non-loopback host")
    serve.add_argument("--seed", type=int, default=None, help="task-instance seed of every episode "
                                                              "(default: drawn; a client's reset may set one)")
    serve.add_argument("--suite", default=None, help="suite name(s) of the env (default: the env's own)")
    serve.add_argument("--tasks", nargs="+", help="only these task ids")
    serve.add_argument("--iterations", type=int, default=None, help="evaluations per episode (default: the env's)")
    serve.add_argument("--scale", default=None, choices=SCALES)
    serve.add_argument("--sandbox", default=None, help="sandbox provider (default: the env's, local)")
    serve.add_argument("--workers", type=int, default=None, help="tasks graded in parallel in each session")
    serve.add_argument("--agent", default=None, help="agent tag for the run logs")
    serve.add_argument("--model", default=None, help="model tag for the run logs")
    serve.add_argument("--out", default=None, help="keep each session's run (log, workspace history) under this "
                                                   "folder; default: a temporary run directory removed at disconnect")
    serve.add_argument("--max-sessions", type=int, default=64, help="concurrent OpenEnv sessions (default 64)")
    serve.add_argument("--idle-timeout", type=float, default=3600.0,
                       help="seconds without a request after which an MCP HTTP session is closed (default 3600); "
                            "keep it longer than any step, which counts as silence while it runs")
    serve.add_argument("--env-kwargs", type=json_object, default={}, metavar="JSON",
                       help="more keyword arguments for gym.make, as a JSON object")
    serve.set_defaults(func=cmd_serve)
