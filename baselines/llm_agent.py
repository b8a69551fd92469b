"""An LLM agent for any OpenAI-compatible chat-completions endpoint, playing the text env.

    export RSIGYM_LLM_BASE_URL=http://localhost:8000/v1   # or OPENAI_BASE_URL
    export RSIGYM_LLM_MODEL=my-model                      # or OPENAI_MODEL, or rsigym run --model
    export RSIGYM_LLM_API_KEY=...                         # or OPENAI_API_KEY; may be empty for local servers
    rsigym run RSI-MLE-v0 --agent llm --model my-model --iterations 10

The agent *is* part of the agent system under improvement: every step it reads its system
prompt from the workspace's ``harness/prompt.md``, its notes from ``harness/memory.md`` and
its settings (``temperature``, ``max_tokens``, ``history``) from ``harness/agent.json``, so an
action that edits the harness changes how the agent behaves from the next step on.
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

PROTOCOL = """You improve an ML agent system inside a workspace, one action per turn.
Reply with exactly one JSON action in a ```json fenced block: one op object or a list of ops.
Ops: {"op": "write", "path": P, "content": TEXT} | {"op": "patch", "path": P, "diff": UNIFIED_DIFF}
| {"op": "read", "path": P} | {"op": "run", "cmd": CMD, "timeout": SECONDS}
| {"op": "revert", "iteration": K} | {"op": "evaluate"} | {"op": "submit"}.
Paths are relative to the workspace: tasks/<id>/ (solutions), lib/ (shared code), weights/,
harness/ (your own prompt.md, memory.md and agent.json: edit them to improve yourself).
Every turn ends with an evaluation; the reward is the decrease of the suite loss
(1 = starter, 0 = reference, 2 = invalid). Keep notes in harness/memory.md."""
DEFAULT_SETTINGS = {"temperature": 0.2, "max_tokens": 2048, "history": 4}
RETRY_STATUSES = (429, 500, 502, 503, 504)
_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


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
    usage: dict[str, int] = field(default_factory=dict)

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
                    raise ChatError(f"{url} answered HTTP {err.code}: {err.read()[:500]!r}") from err
            except urllib.error.URLError as err:
                if attempt == self.retries:
                    raise ChatError(f"cannot reach {url}: {err.reason}") from err
            time.sleep(min(2.0**attempt, 30.0))
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise ChatError(f"{url} returned no choices[0].message.content: {str(payload)[:500]}") from err
        for key, value in (payload.get("usage") or {}).items():
            if isinstance(value, int):
                self.usage[key] = self.usage.get(key, 0) + value
        return content or ""


def extract_action(reply: str) -> str:
    """The JSON action in a reply: the last fenced block that parses, else the outermost braces."""
    for block in reversed(_FENCED.findall(reply)):
        try:
            json.loads(block)
            return block.strip()
        except json.JSONDecodeError:
            continue
    starts = [i for i in (reply.find("{"), reply.find("[")) if i >= 0]
    if starts:
        candidate = reply[min(starts): max(reply.rfind("}"), reply.rfind("]")) + 1]
        try:
            json.loads(candidate)
            return candidate
        except json.JSONDecodeError:
            pass
    return reply  # not JSON: the env reports the parse error, which the next turn reads


class LLMAgent:
    """Plays the text env through a chat model whose prompt and settings live in ``harness/``."""

    name = "llm"

    def __init__(self, env: gym.Env, seed: int = 0, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None):
        self.env = env
        base = env.unwrapped
        base_url = base_url or os.environ.get("RSIGYM_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("set RSIGYM_LLM_BASE_URL (or OPENAI_BASE_URL) to an OpenAI-compatible endpoint, "
                             "e.g. http://localhost:8000/v1")
        model = model or os.environ.get("RSIGYM_LLM_MODEL") or os.environ.get("OPENAI_MODEL") or getattr(base, "model", "")
        if not model:
            raise ValueError("name the model: RSIGYM_LLM_MODEL, OPENAI_MODEL or `rsigym run --model NAME`")
        api_key = api_key if api_key is not None else (
            os.environ.get("RSIGYM_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", ""))
        self.client = ChatClient(base_url, model, api_key)
        self.seed = seed
        self.briefs = "\n\n".join(f"## Task {task.id}\n{task.description().strip()}" for task in base.tasks)
        self.turns: list[tuple[str, str]] = []  # (observation text, reply) of earlier steps

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
        """The protocol, then the harness prompt and notes as the workspace holds them now."""
        parts = [PROTOCOL, self._harness_file("prompt.md").strip(), "# Your notes (harness/memory.md)\n"
                 + self._harness_file("memory.md").strip()]
        return "\n\n".join(part for part in parts if part.strip())

    def messages(self, obs: dict) -> list[dict[str, str]]:
        history = self.settings()["history"]
        messages = [{"role": "system", "content": self.system_prompt()},
                    {"role": "user", "content": f"# Tasks\n\n{self.briefs}"}]
        for text, reply in self.turns[-history:] if history > 0 else []:
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
        return extract_action(reply)
