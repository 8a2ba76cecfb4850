"""Which waiting query goes first: the source's ``max_concurrent_queries`` slots, handed out by priority.

A backfill reads a chunk's plans side by side and writes them in plan order (GPU, KV, gateway). With the
slots first come, first served, the gateway's twelve counter queries often took them before the GPU
plan's last four, so the GPU plan was read last and the gateway's rows, ready first, waited for the GPU's
write (docs/performance.md, "Collection, fourth pass"). Here a query waits for a slot in the order of its
priority, (chunk, plan) as :func:`attribution.collectors.run.collect_window` sets it, then of arrival: the
plans are read in the order they are written, the next chunk after this one. The bound is unchanged.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The priority of the queries the current thread sends through ``PromClient.map``: lower goes first.
QUERY_PRIORITY: ContextVar[tuple[int, ...]] = ContextVar("query_priority", default=())


class Slots:
    """``n`` slots; a waiter gets one when one is free and no waiter of a lower (priority, arrival)
    is ahead of it."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: list[tuple[tuple[int, ...], int]] = []
        self._arrival = itertools.count()
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, priority: tuple[int, ...]) -> Iterator[None]:
        with self._changed:
            ticket = (priority, next(self._arrival))
            heapq.heappush(self._waiting, ticket)
            while self._free == 0 or self._waiting[0] != ticket:
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._changed.notify_all()  # the next in line may take another free slot
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()
