"""An HTTP proxy in front of a real Prometheus that injects the faults collectors must survive.

``proxy.faults`` is a queue: each request pops one fault (or passes through when it is empty):

* ``"503"`` (any status): answers with that status and a Prometheus-style error body;
* ``"reset"``: closes the connection without answering (what a crashing server looks like);
* ``"slow"``: waits ``slow_seconds`` before answering (a client timeout);
* ``"warning"``: forwards, then adds a ``warnings`` entry as a partial (Thanos-style) answer has;
* ``"truncate"``: forwards only the first half of the body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import requests

from attribution.localprom import free_port


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
                self._send(upstream.status_code, content)

            def _send(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
