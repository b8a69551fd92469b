"""The examples of docs/integrations.md, run as a reader would run them: the MCP and OpenEnv ones
against the doc's own ``rsigym serve`` command, the blocks marked ``<!-- example: run -->`` as they stand."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from rsigym.cli import build_parser
from tests.integrations._serve_support import ROOT, http_server, server_env

DOC = ROOT / "docs" / "integrations.md"
DOC_PORT = "8000"
_FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
_LOSS_LINE = re.compile(r"loss (\d+\.\d+) -> (-?\d+\.\d+)")
_MARKED = re.compile(r"<!-- example: run -->\n```python\n(.*?)```", re.DOTALL)


def section(title: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, code) under ``## title``, up to the next ``## `` heading."""
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return _FENCE.findall(text[start:end if end != -1 else None])


def blocks(title: str, language: str) -> list[str]:
    return [code for lang, code in section(title) if lang == language]


def run_example(code: str, tmp_path, port: str | None = None) -> str:
    """Run a Python example in a fresh interpreter (HOME in tmp_path: a host key of its own); its output."""
    if port is not None:
        assert DOC_PORT in code
        code = code.replace(DOC_PORT, port)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=server_env(tmp_path / "tmp", HOME=str(tmp_path)),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def assert_loss_fell(output: str) -> None:
    (start, end), = _LOSS_LINE.findall(output)
    assert float(end) < float(start)


def serve_args(command: str) -> list[str]:
    """The arguments of the doc's ``rsigym serve ... --port 8000`` command, less the port."""
    argv = shlex.split(command.strip())
    assert argv[:2] == ["rsigym", "serve"] and argv[-2:] == ["--port", DOC_PORT]
    return argv[2:-2]


def test_the_mcp_client_config_names_a_serve_command_the_cli_accepts():
    (config,) = blocks("MCP", "json")
    server = json.loads(config)["mcpServers"]["rsigym"]
    assert server["command"] == "rsigym"
    args = build_parser().parse_args(server["args"])
    assert (args.command, args.mcp) == ("serve", "stdio")


@pytest.mark.slow
def test_the_mcp_stdio_example_lowers_the_loss(tmp_path):
    stdio_example, _ = blocks("MCP", "python")
    output = run_example(stdio_example, tmp_path)
    assert "'submit'" in output
    assert_loss_fell(output)


@pytest.mark.slow
@pytest.mark.parametrize("title, python_index", [("MCP", 1), ("OpenEnv", 0)])
def test_the_http_examples_lower_the_loss(title, python_index, tmp_path):
    (command,) = blocks(title, "bash")
    with http_server(tmp_path, *serve_args(command)) as url:
        port = url.rpartition(":")[2]
        assert_loss_fell(run_example(blocks(title, "python")[python_index], tmp_path, port))


def marked_examples() -> list[str]:
    """The Python blocks marked ``<!-- example: run -->`` (verifiers, inspect_ai, masks)."""
    return _MARKED.findall(DOC.read_text())


def test_the_doc_marks_its_adapter_examples():
    assert len(marked_examples()) >= 3  # verifiers, inspect_ai, the infrastructure-failure mask


@pytest.mark.slow
@pytest.mark.parametrize("index", range(3))
def test_the_marked_examples_run(index, tmp_path):
    output = run_example(marked_examples()[index], tmp_path)
    assert output.strip()  # each example prints what it shows
