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
"""

from __future__ import annotations

import ctypes
import functools
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
