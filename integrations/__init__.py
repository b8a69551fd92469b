"""rsigym where agents are trained and evaluated: ``rsigym serve`` (an MCP server and an
OpenEnv-compatible environment server) and adapters for agent frameworks (a verifiers
environment, an inspect_ai task).

Nothing here is imported by the core package: the ``rsigym serve`` command loads
:mod:`rsigym.integrations.serve` by name when it is asked for, and the client libraries
(``mcp``, ``openenv-core``, ``verifiers``, ``inspect_ai``; the ``integrations`` extra) are
imported only by the modules that need them. See docs/integrations.md.
"""
