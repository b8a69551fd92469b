"""The LLM agent end to end against a real chat-completions server on loopback.

The server speaks the OpenAI chat-completions protocol over HTTP; its replies come from a
scripted policy that reads the system prompt, so the tests can see that the agent re-reads
its harness every step.
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rsigym.actions import OPS, protocol_text
from rsigym.agents import make_agent
from rsigym.baselines.llm_agent import (PROTOCOL, AgentConfigError, ChatClient, ChatError, EndpointConfig, LLMAgent,
                                        extract_action, normalise_base_url)
from rsigym.render import excerpt, sanitize
from rsigym.runlog import read_log
from tests.conftest import STRONG_DIGITS

API_KEY = "test-key"


def scripted_policy(messages: list[dict]) -> str:
    """Edit the own harness first; once the prompt carries the strategy, follow it."""
    system = messages[0]["content"]
    if "STRATEGY: svc" in system:
        action = {"op": "write", "path": "tasks/digits/config.json", "content": json.dumps(STRONG_DIGITS)}
        return f"Following my strategy.\n```json\n{json.dumps(action)}\n```"
    prompt = "# Prompt\nSTRATEGY: svc on digits\n"
    action = [{"op": "write", "path": "harness/prompt.md", "content": prompt},
              {"op": "write", "path": "harness/agent.json", "content": json.dumps({"temperature": 0.0, "history": 1})}]
    return "First I improve myself:\n```json\n" + json.dumps(action) + "\n```"


class ChatServer:
    """A loopback HTTP server for POST /v1/chat/completions; ``fail_first`` answers 503 that many times."""

    def __init__(self, policy, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions" or self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self.send_error(404 if self.path != "/v1/chat/completions" else 401)
                    return
                server.requests.append(body)
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self.send_error(503, "busy")
                    return
                reply = {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": policy(body["messages"])}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_agent_plays_the_env_and_harness_edits_change_the_agent(make_env, monkeypatch):
    env = make_env(tasks=["digits"], iterations=3, agent="llm", model="scripted")
    with ChatServer(scripted_policy) as server:
        monkeypatch.setenv("RSIGYM_LLM_BASE_URL", server.url)
        monkeypatch.setenv("RSIGYM_LLM_API_KEY", API_KEY)
        monkeypatch.delenv("RSIGYM_LLM_MODEL", raising=False)
        monkeypatch.delenv("OPENAI_MODEL", raising=False)
        agent = make_agent("llm", env)  # the registry builds it; the model name comes from the env tag
        obs, info = env.reset(seed=0)
        brief = obs["text"]
        agent.reset(obs, info)
        start = info["losses"]["digits"]

        obs, reward, *_, info = env.step(agent.act(obs, info))
        assert info["kinds"] == ["harness"] and reward == 0.0
        first = server.requests[0]
        assert first["model"] == "scripted" and first["temperature"] == 0.2 and first["seed"] == 0
        assert "STRATEGY" not in first["messages"][0]["content"]
        assert [m["role"] for m in first["messages"]] == ["system", "user"]
        assert first["messages"][1]["content"] == brief  # the env's first observation

        obs, reward, *_, info = env.step(agent.act(obs, info))
        second = server.requests[1]
        assert "STRATEGY: svc" in second["messages"][0]["content"]  # read from the edited harness
        assert second["temperature"] == 0.0  # harness/agent.json changed the agent's settings
        assert second["seed"] == 1  # a fresh sampling seed per turn
        assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
        assert second["messages"][1]["content"] == brief  # the brief stays the first user message
        assert reward > 0 and info["losses"]["digits"] < start - 0.3
        assert agent.client.usage["total_tokens"] == 30

        env.step(agent.act(obs, info))
        third = server.requests[2]  # history 1 (agent.json): the brief's turn and the latest other turn
        assert [m["role"] for m in third["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert third["messages"][1]["content"] == brief and third["messages"][3]["content"] == second["messages"][-1]["content"]


def test_unparseable_reply_costs_the_step_and_the_error_is_shown_next_turn(make_env, monkeypatch):
    env = make_env(tasks=["digits"], iterations=2)
    with ChatServer(lambda messages: "I would rather chat than act.", fail_first=1) as server:
        agent = LLMAgent(env, base_url=server.url, model="m", api_key=API_KEY)
        obs, info = env.reset(seed=0)
        agent.reset(obs, info)
        obs, reward, *_, info = env.step(agent.act(obs, info))  # after one 503, the retry succeeds
        assert reward == 0.0 and "not valid JSON" in obs["text"]
        env.step(agent.act(obs, info))
        assert "not valid JSON" in server.requests[-1]["messages"][-1]["content"]
        assert len(server.requests) == 3


def test_client_reports_a_refused_key():
    with ChatServer(lambda messages: "") as server:
        client = ChatClient(server.url, "m", api_key="wrong", retries=0)
        with pytest.raises(ChatError, match="HTTP 401"):
            client.complete([{"role": "user", "content": "hi"}], 0.0, 8)


def brief_reader(messages: list[dict]) -> str:
    """A policy that knows nothing but the first observation: it picks the write op and the digits
    task's config path from the protocol and the file listing the brief shows."""
    brief = messages[1]["content"]
    write = re.search(r'`(\{"op": "write", "path": TEXT, "content": TEXT\})`', brief)
    folder = re.search(r"^(tasks/digits/): .*config\.json", brief, re.MULTILINE)
    if not (write and folder):
        return "I cannot tell how to act from this brief."
    action = {"op": "write", "path": folder.group(1) + "config.json", "content": json.dumps(STRONG_DIGITS)}
    return f"The brief says how to write a file.\n```json\n{json.dumps(action)}\n```\nThen the env evaluates."


def test_first_observation_alone_carries_the_protocol_and_the_task_descriptions(make_env):
    env = make_env(iterations=2)  # the env tests' tasks: digits and wine
    with ChatServer(brief_reader) as server:
        agent = LLMAgent(env, base_url=server.url, model="m", api_key=API_KEY)
        obs, info = env.reset(seed=0)
        agent.reset(obs, info)
        start = info["losses"]["digits"]
        obs, reward, *_, info = env.step(agent.act(obs, info))

        first_prompt = "\n".join(message["content"] for message in server.requests[0]["messages"])
        assert PROTOCOL == protocol_text() and PROTOCOL in server.requests[0]["messages"][1]["content"]
        for name in OPS:
            assert f'"op": "{name}"' in first_prompt
        for task in env.unwrapped.tasks:
            assert sanitize(excerpt(task.description(), 300).removesuffix("[...]").strip()) in first_prompt
        assert info["ops"] == [{"op": "write", "path": "tasks/digits/config.json", "kind": "code", "ok": True, "error": None}]
        assert reward > 0 and info["losses"]["digits"] < start - 0.3


def test_token_usage_of_each_step_goes_into_the_run_log(make_env):
    env = make_env(tasks=["digits"], iterations=2)
    with ChatServer(lambda messages: '```json\n{"op": "evaluate"}\n```') as server:
        agent = LLMAgent(env, base_url=server.url, model="m", api_key=API_KEY)
        obs, info = env.reset(seed=0)
        agent.reset(obs, info)
        for _ in range(2):
            obs, *_, info = env.step(agent.act(obs, info))
    records = list(read_log(env.unwrapped.log.path))
    assert [r.get("usage") for r in records] == [None] + [{"prompt_tokens": 10, "completion_tokens": 5}] * 2


def test_base_url_without_v1_reaches_the_server(make_env):
    env = make_env(tasks=["digits"], iterations=1)
    with ChatServer(lambda messages: '{"op": "evaluate"}') as server:
        agent = LLMAgent(env, base_url=server.url.removesuffix("/v1") + "/", model="m", api_key=API_KEY)
        obs, info = env.reset(seed=0)
        *_, info = env.step(agent.act(obs, info))
        assert len(server.requests) == 1 and info["ops"][0]["ok"]


@pytest.mark.parametrize("url, expected", [
    ("http://localhost:8000", "http://localhost:8000/v1"),
    ("http://localhost:8000/", "http://localhost:8000/v1"),
    (" http://localhost:8000/v1/ ", "http://localhost:8000/v1"),
    ("https://host/openai/v1/chat/completions", "https://host/openai/v1"),
    ("https://host/api/v1beta/openai", "https://host/api/v1beta/openai"),  # a path is kept as given
])
def test_base_urls_are_normalised(url, expected):
    assert normalise_base_url(url) == expected


def test_a_base_url_that_is_not_http_is_refused():
    with pytest.raises(AgentConfigError, match="not an http"):
        normalise_base_url("localhost:8000")


@pytest.fixture
def no_llm_settings(monkeypatch):
    for name in ("RSIGYM_LLM_BASE_URL", "OPENAI_BASE_URL", "RSIGYM_LLM_MODEL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_agent_needs_an_endpoint_and_a_model(no_llm_settings, make_env):
    with pytest.raises(AgentConfigError, match="set RSIGYM_LLM_BASE_URL"):
        EndpointConfig.resolve(model="m")
    no_llm_settings.setenv("RSIGYM_LLM_BASE_URL", "http://localhost:8000")
    with pytest.raises(AgentConfigError, match="--model NAME"):
        EndpointConfig.resolve()
    assert EndpointConfig.resolve(model="m") == EndpointConfig("http://localhost:8000/v1", "m", "")
    with pytest.raises(AgentConfigError, match="needs a model"):  # the env's model tag is empty
        LLMAgent(make_env(tasks=["digits"]))
    assert LLMAgent(make_env(tasks=["digits"], model="tagged")).client.model == "tagged"  # the tag of `--model`


@pytest.mark.parametrize("reply, expected", [
    ('text\n```json\n{"op": "evaluate"}\n```\nmore', '{"op": "evaluate"}'),
    ('```json\n{broken\n```\n```\n[{"op": "submit"}]\n```', '[{"op": "submit"}]'),
    ('Sure: {"op": "read", "path": "lib/tabular.py"} done', '{"op": "read", "path": "lib/tabular.py"}'),
    ("no action here", "no action here"),
    ('x ```json\n{"op": "write", "path": "a.md", "content": "```py\\n1\\n```"}\n```',  # fences inside a string
     '{"op": "write", "path": "a.md", "content": "```py\\n1\\n```"}'),
])
def test_extract_action(reply, expected):
    assert extract_action(reply) == expected
