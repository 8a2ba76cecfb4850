"""A minimal OpenAI-compatible chat-completions endpoint, so real clients (the LiteLLM proxy, the OpenAI
Python client with OpenTelemetry's instrumentation) can be pointed at the simulator.

``POST /v1/chat/completions`` answers every request, non-streaming or streaming (server-sent events, with a
final usage chunk when ``stream_options.include_usage`` asks for it), with counts fixed by the request, so
a test knows what every client should report:

* ``prompt_tokens``: the whitespace-separated words of every message's text content;
* ``completion_tokens``: ``max_completion_tokens``, else ``max_tokens``, else 16; the answer is that many
  words ``tok``.

``GET /v1/models`` lists the served names. The live simulator (:mod:`attribution.sim.live`) answers the
same requests on each engine's port; :class:`OpenAIServer` serves them alone. The answers do not feed the
simulated cluster's traffic: it is a conformance endpoint, not a load model.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_COMPLETION_TOKENS = 16
PATH = "/v1/chat/completions"


class BadRequestError(ValueError):
    """The request is not a chat completion this endpoint can answer (HTTP 400)."""


def prompt_tokens(messages: Any) -> int:
    """Words of every message's text: a string ``content`` or the ``text`` parts of a list of parts."""
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages must be a non-empty list")
    words = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"text": content or ""}]
        words += sum(len(str(p.get("text") or "").split()) for p in parts if isinstance(p, dict))
    return words


def completion_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_COMPLETION_TOKENS
    if not isinstance(value, int) or value < 1:
        raise BadRequestError("max_tokens must be a positive integer")
    return value


def usage(body: dict[str, Any]) -> dict[str, int]:
    prompt, completion = prompt_tokens(body.get("messages")), completion_tokens(body)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion(body: dict[str, Any], default_model: str) -> dict[str, Any]:
    """The non-streaming answer to ``body``."""
    counts = usage(body)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or default_model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(["tok"] * counts["completion_tokens"])},
                "finish_reason": "length",
            }
        ],
        "usage": counts,
    }


def stream_events(body: dict[str, Any], default_model: str) -> list[bytes]:
    """The streaming answer: one chunk per word, a finish chunk, the usage chunk if asked, ``[DONE]``."""
    whole = chat_completion(body, default_model)
    head = {"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"]}
    head["model"] = whole["model"]
    words = whole["usage"]["completion_tokens"]
    chunks: list[dict[str, Any]] = []
    for i in range(words):
        delta = {"role": "assistant", "content": "tok"} if i == 0 else {"content": " tok"}
        chunks.append({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        chunks.append({**head, "choices": [], "usage": whole["usage"]})
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def answer(handler: BaseHTTPRequestHandler, default_model: str) -> None:
    """Serve one ``POST /v1/chat/completions`` on ``handler`` (a 400 with an OpenAI-style error if bad)."""
    try:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        if not isinstance(body, dict):
            raise BadRequestError("the body must be a JSON object")
        if body.get("stream"):
            events = stream_events(body, default_model)
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Content-Length", str(sum(len(e) for e in events)))
            handler.end_headers()
            for event in events:
                handler.wfile.write(event)
            return
        reply(handler, 200, chat_completion(body, default_model))
    except (BadRequestError, ValueError) as exc:
        reply(handler, 400, {"error": {"message": str(exc), "type": "invalid_request_error"}})


def reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def models_list(names: Sequence[str]) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "simulator"} for n in names]}


class OpenAIServer:
    """``with OpenAIServer(port, ["model-a"]) as server: server.url``: the endpoint alone, on loopback."""

    def __init__(self, port: int, models: Sequence[str]) -> None:
        if not models:
            raise ValueError("name at least one served model")
        self.models = list(models)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?")[0] != PATH:
                    reply(self, 404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                answer(self, server.models[0])

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/v1/models":
                    reply(self, 200, models_list(server.models))
                else:
                    reply(self, 404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def log_message(self, format: str, *args: object) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
