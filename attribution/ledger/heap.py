"""Handing the allocator's free pages back to the OS between the attribution job's phases.

A full-fleet day's job builds and frees arrays of some MiB to tens of MiB (the usage read a slice at a
time, the engine's chunks of idle shares). Below glibc's mmap threshold, which rises to 32 MiB once such
an array is freed, they come from the heap, and freed they stay in the process unless they lie at its
top. Each thread allocates from an arena of its own, so the heap the main thread freed (the engine's)
is not reused by the thread that reads the next window ahead (:mod:`attribution.ledger.span`): the two
stacked, and a full-fleet day's reads ahead on top of the engine's free heap made the job's peak
(2,003 MiB on four days of the full fleet). ``malloc_trim(0)`` returns every free page of the heaps to
the OS (not only the top): some milliseconds, and nothing moves in the process. Where the C library is
not glibc (no ``malloc_trim``) this does nothing.

While a window's reads run ahead beside the engine, both threads free tens of MiB at a time at moments
neither knows of the other, and each arena keeps what its thread freed: four full-fleet days peaked at
1,866 MiB with the heap returned only between phases, against some 1,450 MiB of live arrays at most.
:class:`Trimmer` returns it every half second for as long as the reads run ahead (1,525 MiB; 197 trims
of about 3 ms each, on a thread of their own: ctypes lets go of the GIL, and the job took no longer).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable
from typing import cast


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):
        return None


def return_free_memory() -> None:
    """Return the allocator's free pages to the OS (glibc), or nothing (elsewhere)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


TRIM_PERIOD_SECONDS = 0.5
"""How often a :class:`Trimmer` returns the free heap: at 0.2 s the full-fleet peak was 1,446 MiB and
the trims cost 0.76 s of CPU over four days; at 0.5 s, 1,525 MiB and 0.58 s."""


class Trimmer:
    """:func:`return_free_memory` every ``period_seconds`` on a daemon thread of its own, from creation
    until :meth:`stop` (which waits for a trim under way). Nothing is started where there is no
    ``malloc_trim``."""

    def __init__(self, period_seconds: float = TRIM_PERIOD_SECONDS) -> None:
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if _malloc_trim() is not None:
            self._thread = threading.Thread(
                target=self._run, args=(period_seconds,), name="heap-trimmer", daemon=True
            )
            self._thread.start()

    def _run(self, period_seconds: float) -> None:
        while not self._stopped.wait(period_seconds):
            return_free_memory()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
