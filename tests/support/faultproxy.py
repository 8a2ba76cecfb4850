"""An HTTP proxy in front of a real Prometheus that injects the faults collectors must survive.

``proxy.faults`` is a queue: each request pops one fault (or passes through when it is empty):

* ``"503"`` (any status): answers with that status and a Prometheus-style error body;
* ``"reset"``: closes the connection without answering (what a crashing server looks like);
* ``"slow"``: waits ``slow_seconds`` before answering (a client timeout);
* ``"warning"``: forwards, then adds a ``warnings`` entry as a partial (Thanos-style) answer has;
* ``"truncate"``: forwards only the first half of the body;
* ``"html"``: answers 502 with an HTML error page, as a load balancer in front of a dead Prometheus does;
* ``"login"``: answers 200 with an HTML page, as an authenticating proxy does when its session expired;
* ``"wrong-type"``: forwards, then says the result is a ``scalar``;
* ``"inf"``: forwards, then replaces every value with ``+Inf``, ``-Inf`` or ``NaN`` in turn;
* ``"explode:N"``: forwards, then adds N copies of the first series, each with its own ``request_id``
  label: a label-cardinality explosion (a label with a value per request).

``"pass"`` forwards unchanged, so ``["pass", "pass", "html"]`` spoils the third request only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests

from attribution.localprom import free_port

HTML_PAGES = {
    "html": "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center><hr><center>nginx</center></body></html>",
    "login": "<!DOCTYPE html><html><body><form action=/oauth2/start><button>Sign in</button></form>"
    "</body></html>",
}
_NON_FINITE = ("+Inf", "-Inf", "NaN")


def rewrite(fault: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A well-formed answer spoiled as ``fault`` says (see the module docstring)."""
    data = answer.get("data") or {}
    result = data.get("result") or []
    if fault == "wrong-type":
        answer["data"] = {"resultType": "scalar", "result": [0, "1"]}
    elif fault == "inf":
        n = 0
        for series in result:
            for point in series.get("values") or [series.get("value")]:
                point[1] = _NON_FINITE[n % len(_NON_FINITE)]
                n += 1
    elif result:
        first = result[0]
        count = int(fault.split(":", 1)[1])
        result.extend(
            {**first, "metric": {**first["metric"], "request_id": f"req-{i:07d}"}} for i in range(count)
        )
    return answer


class FaultProxy:
    def __init__(self, upstream: str, slow_seconds: float = 3.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: deque[str] = deque()
        self.requests: list[str] = []
        self.slow_seconds = slow_seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def _forward(self, body: bytes | None) -> None:
                fault = proxy.faults.popleft() if proxy.faults else "pass"
                proxy.requests.append(f"{fault} {self.path}")
                if fault == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault in ("html", "login"):
                    page = HTML_PAGES[fault]
                    self._send(502 if fault == "html" else 200, page.encode(), "text/html")
                    return
                if fault.isdigit():
                    self._send(
                        int(fault),
                        json.dumps(
                            {"status": "error", "errorType": "internal", "error": "injected"}
                        ).encode(),
                    )
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                headers = {
                    "Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")
                }
                try:
                    upstream = requests.request(
                        self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=30
                    )
                except requests.RequestException:  # the upstream went away (e.g. at teardown)
                    self._send(502, b"{}")
                    return
                content = upstream.content
                if fault == "warning":
                    answer = upstream.json()
                    answer["warnings"] = ["partial response: store 10.0.0.7:10901 unavailable"]
                    content = json.dumps(answer).encode()
                elif fault == "truncate":
                    content = content[: len(content) // 2]
                elif fault in ("wrong-type", "inf") or fault.startswith("explode:"):
                    content = json.dumps(rewrite(fault, upstream.json())).encode()
                self._send(upstream.status_code, content)

            def _send(self, status: int, content: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
