"""Handing the allocator's free pages back to the OS before and after the vectorised engine.

A full-fleet day's job builds and frees arrays of some MiB to tens of MiB (the usage read a slice at a
time, the engine's chunks of idle shares). Below glibc's mmap threshold, which rises to 32 MiB once such
an array is freed, they come from the heap, and freed they stay in the process unless they lie at its
top: on entering the engine some 350 MiB of the job's resident memory was free heap, and after it some
450 MiB, on which the engine's own peak and then ``line_rows``' stacked. ``malloc_trim(0)`` returns every
free page of the heaps to the OS (not only the top): some milliseconds, and nothing moves in the process.
Where the C library is not glibc (no ``malloc_trim``) this does nothing.
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
