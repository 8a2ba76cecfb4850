"""The warm chargeback: a kept answer served from memory, without the database, the thread pool or FastAPI's
dependencies, while the results' version read a moment ago still names it.

Under load the request path, not the body, was the cost of a kept chargeback (a ``304`` was as slow as the
``200``; docs/performance.md): resolving the dependencies and query models, a hop to the thread pool, a
connection from the pool and one query for the results' version, per request. :class:`WarmPath` is ASGI
middleware, inside the metrics and the body limit, in front of the routes. For ``GET /v1/chargeback`` it
answers at once when all of these hold, and otherwise passes the request on unchanged:

- **the key is verified**: the bearer token is one the key cache verified less than
  ``api.key_cache_seconds`` ago (:meth:`KeyCache.kept`), exactly as the route's own check of a kept key;
  an unknown, expired or revoked key goes to the route (401 there);
- **this key was answered this query**: the route kept the answer under the request's path, its raw query
  string and the key's principal (id and scopes) after the route's scope check, filters and tenant
  forcing ran for that same principal, so a key only ever gets bytes the route gave that key;
- **the results have not changed**: the window's version (the last attribution run and the period's
  state, :func:`attribution.store.lines.results_state`) read by a request that *started* less than
  ``api.results_fresh_seconds`` ago (:class:`Observed`) is the version the answer is of.

So an answer is never torn (the bytes are the route's, of one version read like a sequence lock,
:mod:`attribution.api.cache`) and never older than the bound: a run or a close that commits is seen by
every request that starts ``results_fresh_seconds`` later (default 1 s; 0 reads the version on every
request, as before). Under load the version is read again by one request in each half-bound (that
request takes the route), so it never lapses while requests keep coming.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from attribution.access import Principal
from attribution.api.etag import matches, not_modified, tagged
from attribution.api.keycache import KeyCache

#: Kept answers at most (each up to a few hundred kB): keys x queries; the least recently used go first.
MAX_WARM = 256
WARM_PATHS = frozenset({"/v1/chargeback"})
#: ``If-None-Match`` longer than this is a 422 from the route (:data:`attribution.api.etag.IfNoneMatch`).
MAX_TAG_CHARS = 2000
START, BODY = "http.response.start", "http.response.body"


class Observed:
    """The version of the results last read per period (None: raw windows), with when its read started."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._seen: dict[str | None, tuple[float, str]] = {}
        self._claimed: dict[str | None, float] = {}
        self._lock = threading.Lock()

    def note(self, period: str | None, version: str, read_at: float) -> None:
        """``version`` was current when a read that started at ``read_at`` (``clock()``) took its
        snapshot; an older read finishing later does not replace a newer one."""
        with self._lock:
            seen = self._seen.get(period)
            if seen is None or read_at >= seen[0]:
                self._seen[period] = (read_at, version)

    def current(self, period: str | None) -> str | None:
        """The version read less than ``seconds`` ago, or None. When it is past half its bound, one
        caller in each half-bound gets None (it reads again through the route), the others the version."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(period)
            if seen is None or now - seen[0] >= self.seconds:
                return None
            if (
                now - seen[0] >= self.seconds / 2
                and now - self._claimed.get(period, -1e18) >= self.seconds / 2
            ):
                self._claimed[period] = now
                return None
            return seen[1]


@dataclass(frozen=True, slots=True)
class Kept:
    period: str | None
    version: str
    etag: str
    body: bytes
    ok_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]
    route: object
    """The route that made the answer: the metrics label the request with its template, as before."""


WarmKey = tuple[str, bytes, Principal]


class WarmAnswers:
    """Answers the route made, by (path, raw query string, principal)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.observed = Observed(seconds, clock)
        self._entries: OrderedDict[WarmKey, Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.served = 0
        """Requests answered from memory: for tests and the benchmark."""

    @property
    def enabled(self) -> bool:
        return self.observed.seconds > 0

    def keep(
        self, scope: Scope, principal: Principal, period: str | None, version: str, etag: str, body: bytes
    ) -> None:
        """Keep the 200 the route gave ``principal`` for this request, as of the window's ``version``."""
        if not self.enabled:
            return
        kept = Kept(
            period,
            version,
            etag,
            body,
            tagged(body, etag).raw_headers,
            not_modified(etag).raw_headers,
            scope.get("route"),
        )
        key = (str(scope["path"]), bytes(scope["query_string"]), principal)
        with self._lock:
            self._entries[key] = kept
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_WARM:
                self._entries.popitem(last=False)

    def find(self, scope: Scope, principal: Principal) -> Kept | None:
        """The kept answer of this request for ``principal`` if its version is still the current one."""
        key = (str(scope["path"]), bytes(scope["query_string"]), principal)
        with self._lock:
            kept = self._entries.get(key)
        if kept is None or self.observed.current(kept.period) != kept.version:
            return None
        return kept


class WarmPath:
    """ASGI middleware: a kept chargeback for a verified key, from memory (see the module docstring). It
    reads the key cache and the kept answers from the app's state at each request (tests replace them)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in WARM_PATHS:
            found = self._kept(scope)
            if found is not None:
                kept, if_none_match = found
                scope["route"] = kept.route
                if matches(if_none_match, kept.etag):
                    await send({"type": START, "status": 304, "headers": kept.not_modified_headers})
                    await send({"type": BODY, "body": b""})
                    return
                await send({"type": START, "status": 200, "headers": kept.ok_headers})
                await send({"type": BODY, "body": kept.body})
                return
        await self.app(scope, receive, send)

    def _kept(self, scope: Scope) -> tuple[Kept, str | None] | None:
        answers: WarmAnswers = self.state.warm
        if not answers.enabled:
            return None
        auth: list[bytes] = []
        tags: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth.append(value)
            elif name == b"if-none-match":
                tags.append(value)
        # none, given twice, or a tag the route would refuse (422): the route answers as it always has
        if len(auth) != 1 or len(tags) > 1 or (tags and len(tags[0]) > MAX_TAG_CHARS):
            return None
        scheme, token = get_authorization_scheme_param(auth[0].decode("latin-1"))
        if scheme.lower() != "bearer" or not token:
            return None
        keys: KeyCache = self.state.keys
        principal = keys.kept(token)  # verified less than api.key_cache_seconds ago, as the route checks
        if principal is None:
            return None
        kept = answers.find(scope, principal)
        if kept is None:
            return None
        answers.served += 1
        return kept, tags[0].decode("latin-1") if tags else None
