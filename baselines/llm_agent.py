"""An LLM agent for any OpenAI-compatible chat-completions endpoint, playing the text env.

    export RSIGYM_LLM_BASE_URL=http://localhost:8000      # or OPENAI_BASE_URL; /v1 is added when no path is given
    export RSIGYM_LLM_MODEL=my-model                      # or OPENAI_MODEL, or rsigym run --model
    export RSIGYM_LLM_API_KEY=...                         # or OPENAI_API_KEY; may be empty for local servers
    rsigym run RSI-MLE-v0 --agent llm --model my-model --iterations 10

The agent *is* part of the agent system under improvement: every step it reads its system
prompt from the workspace's ``harness/prompt.md``, its notes from ``harness/memory.md`` and
its settings (``temperature``, ``max_tokens``, ``history``) from ``harness/agent.json``, so an
action that edits the harness changes how the agent behaves from the next step on.

The first observation (the env's brief: tasks, workspace files and the action protocol) stays the
first user message of every prompt; ``history`` earlier turns follow it. Each step's token usage
goes into that step's ``log.jsonl`` record as ``usage`` (see ``RSIEnv.annotate_next_record``).
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from rsigym.actions import fenced_json, protocol_text

PROTOCOL = protocol_text()  # the env's own protocol text, as its first observation shows it
INSTRUCTIONS = """You improve an ML agent system inside a workspace, one action per turn.
The first user message is the environment's brief: the tasks, the workspace files and the action
protocol. Reply with exactly one JSON action in a ```json fenced block: one op object or a list of ops.
harness/ holds your own prompt.md, memory.md and agent.json: edit them to improve yourself.
Keep notes in harness/memory.md."""
DEFAULT_SETTINGS = {"temperature": 0.2, "max_tokens": 2048, "history": 4}
RETRY_STATUSES = (429, 500, 502, 503, 504)
USAGE_FIELDS = ("prompt_tokens", "completion_tokens")


class AgentConfigError(ValueError):
    """The agent cannot start: its endpoint or model is not set."""


def normalise_base_url(url: str) -> str:
    """An OpenAI-compatible base URL in the form ``scheme://host[:port]/path`` without a trailing
    slash: ``/v1`` is added when the URL has no path, and a pasted ``/chat/completions`` is removed."""
    url = url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AgentConfigError(f"base URL {url!r} is not an http(s) URL such as http://localhost:8000/v1")
    path = parts.path.rstrip("/").removesuffix("/chat/completions")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path or "/v1", "", ""))


@dataclass(frozen=True)
class EndpointConfig:
    """Where the agent's chat model is served."""

    base_url: str
    model: str
    api_key: str = ""

    @classmethod
    def resolve(cls, base_url: str | None = None, model: str | None = None, api_key: str | None = None) -> "EndpointConfig":
        """Arguments first, then ``RSIGYM_LLM_*`` and ``OPENAI_*`` variables; raises
        :class:`AgentConfigError` (a message saying what to set) when the URL or model is missing."""
        base_url = base_url or os.environ.get("RSIGYM_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise AgentConfigError("the LLM agent needs an endpoint: set RSIGYM_LLM_BASE_URL (or OPENAI_BASE_URL) to an "
                                   "OpenAI-compatible server, e.g. http://localhost:8000/v1")
        model = model or os.environ.get("RSIGYM_LLM_MODEL") or os.environ.get("OPENAI_MODEL")
        if not model:
            raise AgentConfigError("the LLM agent needs a model: pass `rsigym run --model NAME` or set RSIGYM_LLM_MODEL "
                                   "(or OPENAI_MODEL)")
        api_key = api_key if api_key is not None else (
            os.environ.get("RSIGYM_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", ""))
        return cls(normalise_base_url(base_url), model, api_key)


class ChatError(RuntimeError):
    """The endpoint failed or answered something that is not a chat completion."""


@dataclass
class ChatClient:
    """A minimal client of the ``POST {base_url}/chat/completions`` protocol (no SDK needed)."""

    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 300.0
    retries: int = 3
    usage: dict[str, int] = field(default_factory=dict)  # token counts summed over every completion
    last_usage: dict[str, int] = field(default_factory=dict)  # those of the latest completion alone

    def complete(self, messages: list[dict[str, str]], temperature: float, max_tokens: int,
                 seed: int | None = None) -> str:
        """The assistant's reply to ``messages``; transient HTTP errors are retried with backoff."""
        request_body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature,
                                        "max_tokens": max_tokens}
        if seed is not None:
            request_body["seed"] = seed  # honoured by servers that sample reproducibly
        body = json.dumps(request_body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read())
                break
            except urllib.error.HTTPError as err:
                if err.code not in RETRY_STATUSES or attempt == self.retries:
                    hint = " (is the base URL right? OpenAI-compatible servers usually serve under /v1)" if err.code == 404 else ""
                    raise ChatError(f"{url} answered HTTP {err.code}{hint}: {err.read()[:500]!r}") from err
            except urllib.error.URLError as err:
                if attempt == self.retries:
                    raise ChatError(f"cannot reach {url}: {err.reason}") from err
            time.sleep(min(2.0**attempt, 30.0))
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise ChatError(f"{url} returned no choices[0].message.content: {str(payload)[:500]}") from err
        reported = payload.get("usage") if isinstance(payload, dict) else None
        self.last_usage = {key: value for key, value in (reported or {}).items()
                           if isinstance(value, int) and not isinstance(value, bool)}
        for key, value in self.last_usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
        return content or ""


def extract_action(reply: str) -> str:
    """The JSON action in a reply: the last fenced block that parses, else the outermost braces."""
    fenced = fenced_json(reply)
    if fenced is not None:
        return fenced.strip()
    starts = [i for i in (reply.find("{"), reply.find("[")) if i >= 0]
    if starts:
        candidate = reply[min(starts): max(reply.rfind("}"), reply.rfind("]")) + 1]
        try:
            json.loads(candidate)
            return candidate
        except (json.JSONDecodeError, RecursionError):
            pass
    return reply  # not JSON: the env reports the parse error, which the next turn reads


class LLMAgent:
    """Plays the text env through a chat model whose prompt and settings live in ``harness/``."""

    name = "llm"

    def __init__(self, env: gym.Env, seed: int = 0, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None):
        self.env = env
        config = EndpointConfig.resolve(base_url, model or getattr(env.unwrapped, "model", "") or None, api_key)
        self.client = ChatClient(config.base_url, config.model, config.api_key)
        self.seed = seed
        self.turns: list[tuple[str, str]] = []  # (observation text, reply) of this episode's steps so far

    @property
    def workspace(self) -> Path:
        return Path(self.env.unwrapped.workspace_dir)

    def _harness_file(self, name: str) -> str:
        try:
            return (self.workspace / "harness" / name).read_text(errors="replace")
        except OSError:
            return ""

    def settings(self) -> dict[str, Any]:
        """``DEFAULT_SETTINGS`` overridden by valid entries of ``harness/agent.json``."""
        settings = dict(DEFAULT_SETTINGS)
        try:
            chosen = json.loads(self._harness_file("agent.json") or "{}")
        except json.JSONDecodeError:
            return settings  # a broken settings file must not stop the agent; the defaults hold
        if isinstance(chosen, dict):
            for key, default in DEFAULT_SETTINGS.items():
                value = chosen.get(key)
                wanted = (int, float) if isinstance(default, float) else int
                if isinstance(value, wanted) and not isinstance(value, bool):
                    settings[key] = value
        return settings

    def system_prompt(self) -> str:
        """The instructions, then the harness prompt and notes as the workspace holds them now."""
        parts = [INSTRUCTIONS, self._harness_file("prompt.md").strip(), "# Your notes (harness/memory.md)\n"
                 + self._harness_file("memory.md").strip()]
        return "\n\n".join(part for part in parts if part.strip())

    def messages(self, obs: dict) -> list[dict[str, str]]:
        """system, then user/assistant turns alternating, ending with the current observation: the
        episode's first turn (its observation is the env's brief) and the ``history`` latest others."""
        history = self.settings()["history"]
        recent = self.turns[1:][-history:] if history > 0 else []
        messages = [{"role": "system", "content": self.system_prompt()}]
        for text, reply in self.turns[:1] + recent:
            messages += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": obs["text"]})
        return messages

    def reset(self, obs: dict, info: dict) -> None:
        self.turns = []

    def act(self, obs: dict, info: dict) -> str:
        settings = self.settings()
        reply = self.client.complete(self.messages(obs), settings["temperature"], settings["max_tokens"],
                                     seed=self.seed + len(self.turns))
        self.turns.append((obs["text"], reply))
        if any(key in self.client.last_usage for key in USAGE_FIELDS):
            usage = {key: self.client.last_usage.get(key, 0) for key in USAGE_FIELDS}
            self.env.unwrapped.annotate_next_record(usage=usage)  # into this step's log.jsonl record
        return extract_action(reply)
