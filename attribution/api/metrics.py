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
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        @app.middleware("http")
        async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            started = time.perf_counter()
            self.in_progress.inc()
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                self.in_progress.dec()
                route = getattr(request.scope.get("route"), "path", UNMATCHED)
                method = request.method if request.method in METHODS else "OTHER"
                self.requests.labels(method, route, str(status)).inc()
                self.duration.labels(method, route).observe(time.perf_counter() - started)
