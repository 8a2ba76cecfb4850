"""The API's own metrics in the Prometheus exposition format, on ``GET /metrics``.

* ``attribution_api_requests_total{method,route,status}``: answered requests, by route template (never
  the raw path, whose tenant names and ids would make unbounded label sets);
* ``attribution_api_request_duration_seconds{method,route}``: a histogram of the time to answer;
* ``attribution_api_requests_in_progress``: requests being answered now;
* ``attribution_api_window_reads_total``: window line sets read from the database (cache misses).

Each app has its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "attribution_api_requests",
            "Requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "attribution_api_request_duration_seconds",
            "Time to answer a request, by method and route template.",
            ["method", "route"],
            buckets=BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "attribution_api_requests_in_progress", "Requests being answered.", registry=self.registry
        )
        self.window_reads = Counter(
            "attribution_api_window_reads",
            "Window line sets read from the database (the rest are answered from memory).",
            registry=self.registry,
        )

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        """Measure every HTTP request, outermost: as plain ASGI middleware, not ``@app.middleware``.

        Starlette's ``BaseHTTPMiddleware`` (what ``@app.middleware("http")`` installs) runs the rest of
        the app in a task and passes the response through memory streams; on the warm chargeback, an
        answer from memory, that hop was the largest cost left per request (docs/performance.md)."""
        app.add_middleware(Measured, metrics=self)


class Measured:
    """Counts and times each HTTP request by method, route template and status (:class:`ApiMetrics`).

    The status is the one the app sends in ``http.response.start``; a request whose app raised before
    sending one counts as a 500, as the server answers it. The route template is read from the scope after
    the app ran: the router (or :mod:`attribution.api.warm`) puts the matched route there."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        metrics = self.metrics
        metrics.in_progress.inc()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            metrics.in_progress.dec()
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.duration.labels(method, route).observe(time.perf_counter() - started)
