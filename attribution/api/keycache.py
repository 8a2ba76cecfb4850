"""Verified API keys kept for ``api.key_cache_seconds`` (default 5 s), so a warm request makes no query to
authenticate.

Checking a key is one indexed read, but on a busy server it is one query of the three a cached answer
needed (key, run version, period state). A verified key is kept under the SHA-256 of the whole token
(never the token itself) with the time it was checked; after ``key_cache_seconds`` it is checked again.
A revoked key is therefore refused at most ``key_cache_seconds`` after the revocation commits, on every
worker and replica (each keeps its own entries; none outlives the bound). Unknown, malformed and revoked
tokens are never kept: a key created a moment ago works at once, and a guessed token costs a query each
time, as before (the rate limiter bounds them). 0 checks every request (docs/security.md).
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
        self._lock = threading.Lock()

    def kept(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was verified less than ``seconds`` ago; no I/O."""
        if self._seconds <= 0:
            return None
        name = hashlib.sha256(token.encode()).digest()
        with self._lock:
            found = self._entries.get(name)
            if found is not None and self._clock() - found[0] < self._seconds:
                self._entries.move_to_end(name)
                return found[1]
        return None

    def principal(self, token: str, verify: Callable[[str], Principal | None]) -> Principal | None:
        """The principal of ``token``: kept if verified less than ``seconds`` ago, else ``verify(token)``
        (which reads the key's row), kept when it verifies."""
        if self._seconds <= 0:
            return verify(token)
        name = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        with self._lock:
            found = self._entries.get(name)
            if found is not None and now - found[0] < self._seconds:
                self._entries.move_to_end(name)
                return found[1]
        principal = verify(token)
        with self._lock:
            if principal is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = (now, principal)
                self._entries.move_to_end(name)
                while len(self._entries) > MAX_KEYS:
                    self._entries.popitem(last=False)
        return principal
