"""A window's line set, read once per attribution run and shared by every request about that window.

Every chargeback, line-item page and export of a window derives from one line set (:func:`read_line_set`: a
period's statement lines, or a raw window's stored lines, rounded once). Reading a month of a large fleet
takes seconds (2.3 s for 1,000 tenants on the benchmark's machine), and billing systems ask for the same month
many times (each page, each tenant, each grouping), so the set is kept per window until an attribution run
stores new lines (``results_version`` changes) or the period closes, at most ``api.cached_windows``
windows, least recently used first out. Answers derived from a window (a grouped chargeback) are kept with it,
so they are as of the same run. Concurrent requests for a window not yet read wait for the one reader instead
of each reading it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from attribution.api.warm import Observed
from attribution.errors import DatabaseUnavailableError
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import LineSet, read_line_set, state_of
from attribution.store.lines import results_state

Key = tuple[datetime, datetime, str | None, tuple[str, str | None], tuple[int, int]]
T = TypeVar("T")
#: Derived answers kept per window (groupings x filters x who asks); beyond it they are recomputed.
MAX_DERIVED = 4096


class Window:
    """The lines of one window as of one attribution run, and answers derived from them."""

    def __init__(self, found: LineSet, version: str) -> None:
        self.set = found
        self.lines = found.lines
        self.version = version
        """The attribution run the lines are as of: cursors carry it, so no page mixes two runs."""
        self._derived: dict[Hashable, Any] = {}

    def derive(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per key (two racing requests may both compute; both get a right answer)."""
        if key in self._derived:
            found: T = self._derived[key]
            return found
        value = compute()
        if len(self._derived) < MAX_DERIVED:
            self._derived[key] = value
        return value


class LineCache:
    def __init__(self, max_windows: int, on_read: Callable[[], None] | None = None) -> None:
        self._max = max_windows
        self._on_read = on_read
        self._entries: OrderedDict[Key, Window] = OrderedDict()
        self._lock = threading.Lock()
        self._readers: dict[Key, threading.Lock] = {}
        self.reads = 0
        """Window reads from the database (misses): for tests and the benchmark."""

    def window(
        self,
        session: Session,
        start: datetime,
        end: datetime,
        period: str | None = None,
        observed: Observed | None = None,
    ) -> Window:
        """The line set of ``period`` (whose window ``[start, end)`` is) or of the raw window; the version
        read is noted in ``observed`` with when its read started (:mod:`attribution.api.warm`)."""
        read_at = 0.0 if observed is None else observed.clock()
        key = _key(session, start, end, period)
        if observed is not None:
            observed.note(period, _version_token(key), read_at)
        hit = self._get(key)
        if hit is not None:
            return hit
        with self._lock:
            reader = self._readers.setdefault(key, threading.Lock())
        with reader:
            hit = self._get(key)
            if hit is not None:
                return hit
            key, found = _consistent_read(session, key)
            window = Window(found, _version_token(key))
            self.reads += 1
            if self._on_read is not None:
                self._on_read()
            with self._lock:
                self._readers.pop(key, None)
                if self._max:
                    self._entries[key] = window
                    while len(self._entries) > self._max:
                        self._entries.popitem(last=False)
            return window

    def lines(
        self, session: Session, start: datetime, end: datetime, period: str | None = None
    ) -> list[LineItem]:
        return self.window(session, start, end, period).lines

    def _get(self, key: Key) -> Window | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found


#: Reads of a window while attribution runs keep committing, before the request gives up with a 503.
MAX_READ_TRIES = 5


def _key(session: Session, start: datetime, end: datetime, period: str | None) -> Key:
    """The window and the run and period state its lines are as of, read fresh from the database (never
    from the session's identity map, so a second read sees a close that committed meanwhile)."""
    version, status, content_hash = results_state(session, period)  # one statement, one snapshot
    return (start, end, period, state_of(period, status, content_hash), version)


def _consistent_read(session: Session, key: Key) -> tuple[Key, LineSet]:
    """The window's lines and the key they are as of, never torn between two runs.

    Under READ COMMITTED every statement sees its own snapshot, so an attribution run (or a close)
    committing between the key's read and the lines' read would file one run's lines under another's
    key: a stale answer served until the next run. Like a sequence lock, the key is read again after
    the lines; every run adds a row to ``attribution_runs`` in the transaction that replaces its lines,
    so an unchanged key proves no run committed in between. A changed key reads again, as of the newer
    run."""
    start, end, period = key[0], key[1], key[2]
    for _ in range(MAX_READ_TRIES):
        found = read_line_set(session, start, end, period)
        after = _key(session, start, end, period)
        if after == key:
            return key, found
        key = after
    raise DatabaseUnavailableError(
        "attribution runs kept committing while this window was read; retry the request"
    )


def _version_token(key: Key) -> str:
    """A short opaque name of the run and period state a window's lines are as of."""
    return hashlib.sha256(repr(key[2:]).encode()).hexdigest()[:16]
