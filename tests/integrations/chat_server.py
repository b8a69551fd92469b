"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for the adapter tests.

It stands in for a paid model API, as a real HTTP server on loopback: the clients under test
(verifiers' interception and chat program, the ``openai`` library) speak their real protocol
to it. Each request is answered with the next reply of a script, chosen by how many assistant
turns the conversation already holds; a reply is either text or a list of tool calls.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

Reply = str | list[dict[str, Any]]  # text, or tool calls as {"name": ..., "arguments": {...}}


class ScriptedChatServer:
    """Serves ``/v1/chat/completions`` (plain and streamed) and ``/v1/models`` on loopback.

    ``script`` maps the conversation so far (the request's ``messages``) to the reply."""

    def __init__(self, script: Callable[[list[dict[str, Any]]], Reply], model: str = "scripted"):
        self.script = script
        self.model = model
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                self._json({"object": "list", "data": [{"id": server.model, "object": "model", "owned_by": "test"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append(body)
                reply = server.script(body.get("messages") or [])
                if body.get("stream"):
                    self._stream(reply)
                else:
                    self._json(server.completion(reply))

            def _json(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in server.chunks(reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _message(self, reply: Reply) -> tuple[dict[str, Any], str]:
        if isinstance(reply, str):
            return {"role": "assistant", "content": reply}, "stop"
        calls = [
            {"id": f"call_{k}_{time.monotonic_ns()}", "type": "function",
             "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))}}
            for k, call in enumerate(reply)
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"

    def completion(self, reply: Reply) -> dict[str, Any]:
        message, finish = self._message(reply)
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def chunks(self, reply: Reply) -> Sequence[dict[str, Any]]:
        message, finish = self._message(reply)
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
        if "tool_calls" in message:
            delta["tool_calls"] = [{**call, "index": k} for k, call in enumerate(message["tool_calls"])]
        base = {"id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.model}
        return [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
             "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}},
        ]


def assistant_turns(messages: list[dict[str, Any]]) -> int:
    """How many replies the model already gave in this conversation."""
    return sum(1 for message in messages if message.get("role") == "assistant")
