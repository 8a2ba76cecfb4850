"""The API with one hidden route for the benchmark's ceiling: ``GET /__bench/constant?bytes=N`` answers N
bytes of a constant JSON body, through the same server, event loop, HTTP parser, workers and middleware
as the real routes, but without authentication, the database or the cache. Only the benchmark loads it
(``uvicorn bench.constant_app:make_app --factory``); ``attribution serve`` never has the route.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from attribution.api.app import create_app
from attribution.config import load_settings

_BODIES: dict[int, bytes] = {}


async def constant(request: Request) -> Response:
    """A JSON body of exactly ``bytes`` bytes, built once per size."""
    size = max(2, min(int(request.query_params.get("bytes", "2")), 50_000_000))
    body = _BODIES.get(size)
    if body is None:
        body = _BODIES[size] = b'"' + b"x" * (size - 2) + b'"'
    return Response(body, media_type="application/json")


def make_app() -> FastAPI:
    """The real app from the environment's settings, plus the constant route."""
    app = create_app(load_settings())
    app.add_route("/__bench/constant", constant, methods=["GET"])
    return app
