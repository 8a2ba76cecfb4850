"""Pausing the cyclic garbage collector while a block builds many small objects that hold no cycles.

One pause for the whole process: the vectorised engine (a window's columns and splits) and collection
(parsing answers on query threads, building rows) both use it, so one ending never turns the collector back
on under the other. Here, beside the math, because the model may import nothing else of ours.

Parsing an answer and building a chunk's rows allocate hundreds of thousands of tuples, floats and dicts;
every 700 allocations the collector walks the young generation, and every so often the older ones with
everything still alive, which on a large chunk cost more than the parsing itself (docs/collectors.md,
"Speed"). Nothing allocated there forms a cycle, so reference counting frees it all the same; the pause
only defers the cycle search to the end of the block. In the engine the collections it would trigger
rescan every live object (the caller's inputs included): half the time of a large window otherwise.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    """Nested and concurrent pauses (query threads parse side by side): the collector is enabled again
    only when the last one ends, and only if it was enabled when the first began."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = True


_PAUSES = _Pauses()


@contextmanager
def gc_paused() -> Iterator[None]:
    with _PAUSES.lock:
        if _PAUSES.depth == 0:
            _PAUSES.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSES.depth += 1
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.depth -= 1
            if _PAUSES.depth == 0 and _PAUSES.was_enabled:
                gc.enable()
