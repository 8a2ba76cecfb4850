"""A request on an engine's paged KV cache, and the block counts over the running ones (``engine.py``).

Between events a running request's held tokens follow a line: ``h0 + rate x (t - t0)`` until its phase
ends (prefill ramps the prompt in, decode grows the output). It holds ceil(held / block_size) blocks.

Exhaustion is found exactly without touching every request at every event: H(t) = sum of held tokens is
linear between events and the blocks in use are at most H/block_size + running, so the cache cannot be full
before that bound reaches capacity. Only past that instant (the *tight* regime) are blocks counted one by
one (below) and the next block-boundary crossings merged to find the instant the free blocks run out.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping

INF = math.inf
#: A held-token count this close (in blocks) above a block boundary is on it, up to rounding.
ON_BOUNDARY = 1e-9


class Request:
    """One request's state in an engine: its trajectory (``t0``, ``h0``, ``rate`` until ``phase_end``),
    its contribution to the engine's bound aggregates, and what its completion record needs."""

    __slots__ = (
        "arrival", "capped", "contrib", "first_scheduled", "first_token", "gen", "group", "gw_arrival",
        "h0", "output", "phase", "phase_end", "preemptions", "prompt", "rate", "t0", "target", "version",
    )  # fmt: skip

    def __init__(self, group: int, prompt: int, output: int, capped: bool, arrival: float) -> None:
        self.group, self.prompt, self.output, self.capped = group, prompt, output, capped
        self.gw_arrival = self.arrival = arrival
        self.first_scheduled: float | None = None
        self.first_token: float | None = None
        self.preemptions = self.version = self.phase = 0
        self.gen = self.t0 = self.h0 = self.rate = self.contrib = self.target = 0.0
        self.phase_end = INF


def used_blocks(reqs: Mapping[int, Request], running: dict[int, None], block: float, t: float) -> int:
    """Blocks the running requests hold at t (on a boundary up to rounding: not yet the next one)."""
    tolerance = ON_BOUNDARY
    return sum(math.ceil((reqs[r].h0 + reqs[r].rate * (t - reqs[r].t0)) / block - tolerance) for r in running)


def blocks_wanted(reqs: Mapping[int, Request], running: dict[int, None], block: float, t: float) -> int:
    """Blocks the running requests hold or need just after t: a request exactly on a block boundary
    (up to rounding) is crossing it and wants the next block. Above capacity means the cache is full."""
    return sum(math.floor((reqs[r].h0 + reqs[r].rate * (t - reqs[r].t0)) / block + 1e-6) + 1 for r in running)


def first_exhaustion(
    reqs: Mapping[int, Request],
    running: dict[int, None],
    block: float,
    capacity: int,
    t: float,
    t_next: float,
) -> tuple[float, int] | None:
    """The first instant in [t, t_next) at which a running request crosses a block boundary with no
    free block left, and that request; None if the free blocks last until t_next.

    Request i crosses level k x block_size (needing block k + 1) at t + (k x bs - held_i) / rate_i for
    k >= ceil(held_i / bs), until its phase ends (the next event recomputes everything after that).
    """
    used = 0
    crossings: list[tuple[float, int, float]] = []
    for rid in running:
        q = reqs[rid]
        held = q.h0 + q.rate * (t - q.t0)
        # Within rounding of a boundary counts as on it: the request is crossing now, its next block
        # is a need at t (not already held), so simultaneous crossers all compete for free blocks.
        blocks = math.ceil(held / block - ON_BOUNDARY)
        used += blocks
        level = blocks * block
        when = q.t0 + (level - q.h0) / q.rate
        if when < t_next and when < q.phase_end:
            crossings.append((max(when, t), rid, level))
    free = capacity - used
    if free < 0:  # cannot happen by construction; if rounding ever gets here, preempt at once
        return t, next(reversed(running))
    heapq.heapify(crossings)
    while crossings:
        when, rid, level = heapq.heappop(crossings)
        if free <= 0:
            return when, rid
        free -= 1
        q = reqs[rid]
        level += block
        later = q.t0 + (level - q.h0) / q.rate  # from the trajectory, not by accumulation
        if later < t_next and later < q.phase_end:
            heapq.heappush(crossings, (later, rid, level))
    return None
