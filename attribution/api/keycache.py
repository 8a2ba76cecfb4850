"""Verified API keys kept for ``api.key_cache_seconds`` (default 5 s), so a warm request makes no query to
authenticate.

Checking a key is one indexed read, but on a busy server it is one query of the three a cached answer
needed (key, run version, period state). A verified key is kept under the SHA-256 of the whole token
(never the token itself) with the time it was checked; after ``key_cache_seconds`` it is checked again.
A revoked key is therefore refused at most ``key_cache_seconds`` after the revocation commits, on every
worker and replica (each keeps its own entries; none outlives the bound). Unknown, malformed and revoked
tokens are never kept: a key created a moment ago works at once, and a guessed token costs a query each
time, as before (the rate limiter bounds them). 0 checks every request (docs/security.md).

Refreshed ahead of the bound: once a kept key is past half its bound, the route re-verifies it when it
sees it, and the warm path (:mod:`attribution.api.warm`, which never reads the database) sends one of its
requests per half-bound to the route to do so, serving the others from memory. Without that, every
``key_cache_seconds`` all the requests in flight found the key lapsed at once and queued on the route's
thread and connection pools together: the warm chargeback's p99 under 50 connections was 140-250 ms
against 27-46 ms with the lapse out of the way (docs/performance.md). The bound is unchanged: a key whose
verification is ``key_cache_seconds`` old is never served from memory.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from attribution.access import Principal

#: Keys kept at most; the least recently used go first (a server sees a handful of keys).
MAX_KEYS = 4096


class KeyCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._claimed: dict[bytes, float] = {}
        """When a caller of :meth:`kept` was last sent to re-verify a key past half its bound."""
        self._lock = threading.Lock()

    def kept(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was verified less than ``seconds`` ago; no I/O. Past half the
        bound, one caller in each half-bound gets None (it takes the route, which verifies the key again
        and keeps it afresh), the others the principal."""
        return self._found(token, self._seconds, claim=True)

    def recent(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was verified less than half of ``seconds`` ago; no I/O and
        no claim: the route's check, which verifies again (:meth:`principal`) past half the bound."""
        return self._found(token, self._seconds / 2, claim=False)

    def _found(self, token: str, within: float, *, claim: bool) -> Principal | None:
        """The kept principal of ``token`` verified less than ``within`` seconds ago; with ``claim``, past
        half the bound one caller per half-bound gets None instead (see :meth:`kept`)."""
        if self._seconds <= 0:
            return None
        name = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        with self._lock:
            found = self._entries.get(name)
            if found is None or now - found[0] >= within:
                return None
            half = self._seconds / 2
            if claim and now - found[0] >= half and now - self._claimed.get(name, -1e18) >= half:
                self._claimed[name] = now
                return None
            self._entries.move_to_end(name)
            return found[1]

    def principal(self, token: str, verify: Callable[[str], Principal | None]) -> Principal | None:
        """The principal of ``token``: kept if verified less than half of ``seconds`` ago, else
        ``verify(token)`` (which reads the key's row), kept when it verifies. Past half the bound the route
        verifies again (one indexed read on a request that is on the route anyway), so the entry is
        refreshed before it lapses for the warm path."""
        if self._seconds <= 0:
            return verify(token)
        now = self._clock()  # before the read: the entry is never kept longer than the bound
        kept = self.recent(token)
        if kept is not None:
            return kept
        name = hashlib.sha256(token.encode()).digest()
        principal = verify(token)
        with self._lock:
            if principal is None:
                self._entries.pop(name, None)
                self._claimed.pop(name, None)
            else:
                self._entries[name] = (now, principal)
                self._entries.move_to_end(name)
                while len(self._entries) > MAX_KEYS:
                    dropped, _ = self._entries.popitem(last=False)
                    self._claimed.pop(dropped, None)
        return principal
