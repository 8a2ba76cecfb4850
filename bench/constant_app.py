"""The API with two hidden routes for the benchmark's ceilings. ``GET /__bench/constant?bytes=N`` answers N
bytes of a constant JSON body, through the same server, event loop, HTTP parser, workers, middleware and
router as the real routes, but without authentication, the database or the cache.
``GET /__bench/constant-asgi?bytes=N`` answers the same bytes from ASGI middleware where the warm
chargeback is answered (attribution/api/warm.py: inside the metrics and the body limit, before the
router): the ceiling of that path. Only the benchmark loads them (``uvicorn bench.constant_app:make_app
--factory``); ``attribution serve`` never has them.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from attribution.api.app import create_app
from attribution.config import load_settings

_BODIES: dict[int, bytes] = {}


def _body(asked: str) -> bytes:
    """A JSON body of exactly ``asked`` bytes, built once per size."""
    size = max(2, min(int(asked), 50_000_000))
    body = _BODIES.get(size)
    if body is None:
        body = _BODIES[size] = b'"' + b"x" * (size - 2) + b'"'
    return body


async def constant(request: Request) -> Response:
    return Response(_body(request.query_params.get("bytes", "2")), media_type="application/json")


class ConstantAsgi:
    """``/__bench/constant-asgi`` answered as the warm chargeback is: raw ASGI messages, no router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/__bench/constant-asgi":
            await self.app(scope, receive, send)
            return
        asked = parse_qs(scope["query_string"].decode()).get("bytes", ["2"])[0]
        body = _body(asked)
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def make_app() -> FastAPI:
    """The real app from the environment's settings, plus the constant route."""
    app = create_app(load_settings())
    app.add_route("/__bench/constant", constant, methods=["GET"])
    app.user_middleware.append(Middleware(ConstantAsgi))  # innermost, beside the warm path
    return app
