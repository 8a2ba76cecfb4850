"""Limits that keep one client from taking the API's memory or its database: body size and request rate.

Body size: :class:`BodyLimit` is ASGI middleware outside every route, so it runs before the body is read,
before a JSON parser sees it and before the key is looked up. A declared ``Content-Length`` over
``api.max_body_bytes`` is answered 413 at once, unread; a chunked body is counted as it streams in and
refused at the first chunk past the limit, so the server never holds more than the limit of it. A request
that carries a body but no ``Authorization`` header is answered 401 before any of it is read: an anonymous
client costs no parsing. The console's forms (``/console/``: the sign-in form carries the key in its body,
later posts a session cookie) are the exception; they still get the size limit, and the console reads at
most a few KiB of a form.

Rate: :class:`RateLimiter` is a token bucket per API key (``api.rate_limit_per_minute`` tokens a minute,
up to ``api.rate_limit_burst`` at once) for the routes that read much (:data:`Expensive`): over budget is a
429 with ``Retry-After``. The buckets live in the process, so each replica counts alone: N replicas admit
up to N times the budget. Behind a gateway, put the deployment-wide limit there and keep this one as the
per-replica backstop (docs/security.md).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attribution.api.auth import Principal, _principal
from attribution.errors import AttributionError

#: Buckets kept at once; the least recently used key's bucket is forgotten first (it is full by then).
MAX_BUCKETS = 10_000


class BodyTooLargeError(HTTPException):
    """Raised from inside ``receive``: FastAPI passes HTTP exceptions through its body parser."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes (api.max_body_bytes)")


def _json_error(status: int, code: str, detail: str, extra: list[tuple[bytes, bytes]]) -> list[Message]:
    body = json.dumps({"error": code, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers + extra},
        {"type": "http.response.body", "body": body},
    ]


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` before reading them (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int, form_paths: tuple[str, ...] = ("/console/",)) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.form_paths = form_paths
        """Path prefixes whose posts authenticate in the body or by cookie, not by ``Authorization``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        has_body = b"chunked" in headers.get(b"transfer-encoding", b"") or declared not in (None, b"0")
        refusal = None
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            detail = f"request body over the limit of {self.max_bytes} bytes (api.max_body_bytes)"
            refusal = _json_error(413, "body_too_large", detail, [(b"connection", b"close")])
        elif (
            has_body
            and not headers.get(b"authorization")
            and not str(scope.get("path", "")).startswith(self.form_paths)
        ):
            detail = "missing API key: send 'Authorization: Bearer <key>'"
            refusal = _json_error(401, "unauthenticated", detail, [(b"www-authenticate", b"Bearer")])
        if refusal is not None:
            for message in refusal:
                await send(message)
            return
        await self.app(scope, self._counted(receive), send)

    def _counted(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        return counted


class RateLimitedError(AttributionError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class RateLimiter:
    """Token buckets per key id; thread-safe (sync routes run in a thread pool)."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_second = per_minute / 60
        self.burst = max(burst, 1)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        """Spend one token of ``key_id``'s bucket, or raise :class:`RateLimitedError` with the wait."""
        if self.rate_per_second <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_second)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
            else:
                self._buckets[key_id] = (tokens, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        if tokens < 1:
            wait = max(1, math.ceil((1 - tokens) / self.rate_per_second))
            raise RateLimitedError(
                f"this key made too many expensive requests; retry in {wait} s "
                "(api.rate_limit_per_minute, per replica)",
                wait,
            )


def _rate_limited(request: Request, principal: Annotated[Principal, Depends(_principal)]) -> None:
    limiter = request.app.state.limiter
    assert isinstance(limiter, RateLimiter)
    limiter.take(principal.key_id)


#: A router dependency for the routes whose cost grows with the window asked for.
Expensive = Depends(_rate_limited)
