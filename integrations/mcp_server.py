"""rsigym as an MCP server: one episode per MCP session, a tool per op, resources for the tasks
and the workspace.

- **Tools** are generated from :data:`rsigym.actions.OP_SPECS` (``read``, ``write``, ``patch``,
  ``run``, ``merge``, ``evaluate``, ``revert``, ``submit``), so they cannot drift from the
  action protocol, plus ``reset`` (start a new episode, optional ``seed``). A tool call is one
  env step; its result is the observation text, with ``reward``, ``terminated``,
  ``truncated`` and the client-visible info as structured content. Arguments the op does not
  take give an error result and spend nothing; the session goes on.
- **Resources**: ``rsigym://tasks/<id>`` (each task's description) and ``rsigym://workspace``
  (the workspace's files).
- **Sessions**: each MCP connection (a stdio process, or one streamable-HTTP session) gets its
  own :class:`~rsigym.integrations.session.EpisodeSession`, started at its first call and
  closed when the connection ends (the env's sandbox and temporary run directory go with it).

The server speaks the handshake era of MCP (protocol versions up to 2025-11-25), which keeps a
connection open per client: the stateless 2026-07-28 era has no session to hold an episode,
so ``server/discover`` advertises the handshake versions and clients fall back to
``initialize`` (mcp's own ``Client`` does so in its default ``auto`` mode).
"""
from __future__ import annotations

from typing import Any, Callable

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from rsigym.actions import OP_SPECS, OpSpec, validate_op
from rsigym.integrations.session import EpisodeSession, StepOutcome

SESSION_STATE_KEY = "rsigym.session"
RESET_TOOL = "reset"
TASK_URI_PREFIX = "rsigym://tasks/"
WORKSPACE_URI = "rsigym://workspace"
INSTRUCTIONS = (
    "Improve the agent system in this rsigym episode's workspace so that the suite loss falls. "
    "Read the task descriptions (resources rsigym://tasks/<id>, or the read tool), change files "
    "with write/patch, score the workspace with evaluate (one iteration of the budget per changed "
    "workspace), and end with submit. Each tool result is the observation; its structured content "
    "holds the reward (the decrease of the loss) and whether the episode ended. reset starts over."
)

# JSON Schema type of each Python type an op field accepts (rsigym.actions.Field.types).
_JSON_TYPES = {str: "string", list: "array", int: "integer", float: "number"}

SessionFactory = Callable[[], EpisodeSession]


def op_input_schema(spec: OpSpec) -> dict[str, Any]:
    """The JSON Schema of an op's arguments, from its :class:`~rsigym.actions.OpSpec`."""
    properties = {}
    for key, field in spec.fields.items():
        kinds = [_JSON_TYPES[kind] for kind in field.types]
        if kinds == ["integer", "number"]:
            kinds = ["number"]  # JSON Schema's number includes the integers
        described = field.doc if field.required else f"{field.doc} (default: {field.default})"
        properties[key] = {"type": kinds[0] if len(kinds) == 1 else kinds, "description": described}
    return {"type": "object", "properties": properties,
            "required": [key for key, field in spec.fields.items() if field.required],
            "additionalProperties": False}


def tool_list() -> list[types.Tool]:
    """One tool per op of the action protocol, then ``reset``."""
    tools = [types.Tool(name=name, description=spec.doc[0].upper() + spec.doc[1:] + ". One env step.",
                        input_schema=op_input_schema(spec))
             for name, spec in OP_SPECS.items()]
    tools.append(types.Tool(
        name=RESET_TOOL, description="Start a new episode (a fresh workspace, the starter evaluated); "
                                     "returns the brief. The first call of a session starts one by itself.",
        input_schema={"type": "object", "properties": {"seed": {"type": "integer", "description": "task-instance seed "
                      "(default: the server's)"}}, "additionalProperties": False}))
    return tools


def _result(outcome: StepOutcome) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=outcome.text)],
                                structured_content=outcome.structured(), is_error=bool(outcome.failed_ops))


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _connection(ctx: ServerRequestContext[Any]) -> Connection:
    # mcp 2.0's low-level handler context has no public accessor for its Connection, whose
    # documented `state` and `exit_stack` are what per-connection state and cleanup are for.
    return ctx.session._connection  # noqa: SLF001


class SessionRegistry:
    """The open sessions of a server process, so that a shutdown closes any still open."""

    def __init__(self, factory: SessionFactory):
        self.factory = factory
        self.open: set[EpisodeSession] = set()

    async def session_for(self, ctx: ServerRequestContext[Any]) -> EpisodeSession:
        """This connection's session, made at its first request; its teardown is tied to the connection."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            raise ValueError("rsigym keeps one episode per MCP session; connect with the initialize handshake "
                             f"(protocol versions {', '.join(HANDSHAKE_PROTOCOL_VERSIONS)})")
        connection = _connection(ctx)
        session = connection.state.get(SESSION_STATE_KEY)
        if session is None:
            session = self.factory()
            connection.state[SESSION_STATE_KEY] = session
            self.open.add(session)
            connection.exit_stack.push_async_callback(self.close, session)
        return session

    async def close(self, session: EpisodeSession) -> None:
        """Close ``session``'s env in a worker thread (after a step in progress ends)."""
        self.open.discard(session)
        await anyio.to_thread.run_sync(session.close)

    async def close_all(self) -> None:
        for session in list(self.open):
            await self.close(session)


def build_server(factory: SessionFactory, name: str = "rsigym") -> tuple[Server[Any], SessionRegistry]:
    """The MCP server and the registry of its sessions; ``factory`` makes one session per connection."""
    registry = SessionRegistry(factory)
    tools = tool_list()

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        try:
            session = await registry.session_for(ctx)
            if params.name == RESET_TOOL:
                seed = arguments.pop("seed", None)
                if arguments or not (seed is None or (isinstance(seed, int) and not isinstance(seed, bool))):
                    return _error("reset takes only an integer `seed`")
                return _result(await anyio.to_thread.run_sync(session.reset, seed))
            if params.name not in OP_SPECS:
                return _error(f"unknown tool {params.name!r}; tools are {[tool.name for tool in tools]}")
            op = {"op": params.name, **arguments}
            validate_op(op)  # a wrong argument is answered here, as an error result that spends nothing
            return _result(await anyio.to_thread.run_sync(session.step, op))
        except ValueError as err:
            return _error(str(err))
        except Exception as err:  # noqa: BLE001  (a host failure, e.g. the sandbox cannot start: the session stays)
            return _error(f"{type(err).__name__}: {err}")

    async def list_resources(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        session = await registry.session_for(ctx)
        descriptions = await anyio.to_thread.run_sync(session.task_descriptions)
        resources = [types.Resource(uri=f"{TASK_URI_PREFIX}{task_id}", name=f"task {task_id}",
                                    description=f"the description of task {task_id}", mime_type="text/markdown")
                     for task_id in descriptions]
        resources.append(types.Resource(uri=WORKSPACE_URI, name="workspace",
                                        description="the workspace's files (path and size), as the policy sees them",
                                        mime_type="text/plain"))
        return types.ListResourcesResult(resources=resources)

    async def read_resource(ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        session = await registry.session_for(ctx)
        uri = str(params.uri)
        if uri == WORKSPACE_URI:
            text, mime = await anyio.to_thread.run_sync(session.workspace_tree), "text/plain"
        elif uri.startswith(TASK_URI_PREFIX):
            descriptions = await anyio.to_thread.run_sync(session.task_descriptions)
            task_id = uri.removeprefix(TASK_URI_PREFIX)
            if task_id not in descriptions:
                raise ValueError(f"no task {task_id!r}; tasks are {sorted(descriptions)}")
            text, mime = descriptions[task_id], "text/markdown"
        else:
            raise ValueError(f"unknown resource {uri!r}")
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, text=text, mime_type=mime)])

    server: Server[Any] = Server(name, version=_version(), instructions=INSTRUCTIONS, on_list_tools=list_tools,
                                 on_call_tool=call_tool, on_list_resources=list_resources,
                                 on_read_resource=read_resource)

    async def discover(ctx: ServerRequestContext[Any], params: types.RequestParams | None) -> types.DiscoverResult:
        # Only handshake versions: a client then opens a session with `initialize` (module docstring).
        return types.DiscoverResult(supported_versions=list(HANDSHAKE_PROTOCOL_VERSIONS),
                                    capabilities=server.get_capabilities(), instructions=INSTRUCTIONS)

    server.add_request_handler("server/discover", types.RequestParams, discover)
    return server, registry


def _version() -> str:
    import rsigym

    return rsigym.__version__


async def serve_stdio(factory: SessionFactory) -> None:
    """Serve one client over this process's stdin/stdout until it closes them."""
    from mcp.server.runner import serve_loop
    from mcp.server.stdio import stdio_server

    server, registry = build_server(factory)
    try:
        async with stdio_server() as (read_stream, write_stream), server.lifespan(server) as lifespan_state:
            # The handshake-only loop (not Server.run's dual-era loop): see the module docstring.
            await serve_loop(server, read_stream, write_stream, lifespan_state=lifespan_state,
                             init_options=server.create_initialization_options())
    finally:
        await registry.close_all()


def http_app(factory: SessionFactory, host: str, idle_timeout: float | None):
    """The streamable-HTTP app (an ASGI app) serving MCP at ``/mcp``: one session per MCP session id,
    closed when the client ends it (HTTP DELETE), after ``idle_timeout`` seconds without a request,
    or at shutdown."""
    import contextlib

    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    server, registry = build_server(factory)
    security = None
    if host in ("127.0.0.1", "localhost", "::1"):  # refuse requests a web page makes through DNS rebinding
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    manager = StreamableHTTPSessionManager(app=server, security_settings=security, session_idle_timeout=idle_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        try:
            async with manager.run():
                yield
        finally:
            await registry.close_all()

    return Starlette(routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))], lifespan=lifespan)
