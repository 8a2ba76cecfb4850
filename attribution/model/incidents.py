"""Recovery incidents: a pool whose GPUs are allocated while its engine is down or reloading.

Pure: per pool and interval, what the collectors stored (the pool's GPUs in dcgm, its engines' KV samples,
their framebuffer), in; incidents, out. An interval of a pool is **down** when dcgm still samples the
pool's GPUs and

* ``engine_absent``: no engine of the pool has a KV sample (its series are gone: the process died, or
  ``/metrics`` does not answer while it reloads), or
* ``kv_capacity_zero``: its engines answer with no KV cache (capacity 0: allocation not done), or
* ``reloading``: right after a down interval, the engines answer again but the GPUs' framebuffer is still
  below its serving level (weights were loading for part of the interval; vLLM pre-allocates, so a serving
  engine's framebuffer is flat).

An interval in which the gateway reports KV token-seconds for the pool is never down, whatever the engine
series say: requests were running, so somebody was served (a scrape of the engine lost, not an outage).

Consecutive down intervals of a pool are one incident, half-open ``[start, end)`` on the interval grid.
The resolution is the interval: an interval counts when the engine gave no sample in all of it (every
scrape in ``(t, t + interval]`` missed), so a missed scrape or two is never an incident, and a restart
that leaves a sample in every interval is seen only through the framebuffer after an absence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ENGINE_ABSENT = "engine_absent"
KV_CAPACITY_ZERO = "kv_capacity_zero"
RELOADING = "reloading"
#: A framebuffer mean below this fraction of the pool's serving level is "still filling".
FB_SERVING_FRACTION = 0.95


@dataclass(frozen=True, slots=True)
class PoolInterval:
    """What was collected for one pool in one interval (unix seconds of its start).

    ``gpus``: the GPUs dcgm sampled in the pool (empty: not allocated, never an incident). ``engines``: the
    pool's engines with a KV sample. ``kv_capacity_tokens``: their summed capacity, None when unknown.
    ``fb_used_bytes``: the mean framebuffer used per GPU of the pool, None when not collected."""

    pool: str
    start_s: int
    gpus: tuple[str, ...]
    engines: int
    kv_capacity_tokens: int | None
    fb_used_bytes: float | None
    serving: bool = False
    """The gateway reported KV token-seconds for the pool in the interval: requests were running."""


@dataclass(frozen=True, slots=True)
class Incident:
    """A run of down intervals of one pool: ``[start_s, end_s)`` in unix seconds, on the interval grid.
    ``causes``: the signals seen, in the order of :data:`CAUSES`. ``gpus``: every GPU the pool held in it."""

    pool: str
    start_s: int
    end_s: int
    gpus: tuple[str, ...]
    causes: tuple[str, ...]

    @property
    def cause(self) -> str:
        return ",".join(self.causes)


CAUSES = (ENGINE_ABSENT, KV_CAPACITY_ZERO, RELOADING)


def detect_incidents(
    samples: Iterable[PoolInterval],
    window_start_s: int,
    window_end_s: int,
    interval_s: int,
    pools_with_engines: Iterable[str],
) -> list[Incident]:
    """The incidents of ``[window_start_s, window_end_s)``, sorted by pool and start, clipped to the window.

    ``samples`` may reach before the window, as context (a reload whose absence began there); samples
    at or past its end are ignored. An incident across a window boundary is found as one part per window.
    Only pools in ``pools_with_engines`` (an engine of theirs was ever sampled) are judged: a pool whose
    engines the KV collector never reads (no KV source for them) is not down, it is unobserved."""
    watched = set(pools_with_engines)
    by_pool: dict[str, dict[int, PoolInterval]] = {}
    for s in samples:
        if s.pool in watched and s.start_s < window_end_s:
            by_pool.setdefault(s.pool, {})[s.start_s] = s
    out: list[Incident] = []
    for pool in sorted(by_pool):
        out.extend(_pool_incidents(pool, by_pool[pool], window_start_s, window_end_s, interval_s))
    return out


def _pool_incidents(
    pool: str, by_start: dict[int, PoolInterval], window_start_s: int, window_end_s: int, interval_s: int
) -> list[Incident]:
    serving = [
        s.fb_used_bytes
        for s in by_start.values()
        if s.fb_used_bytes is not None and s.engines and s.kv_capacity_tokens != 0
    ]
    serving_fb = max(serving) if serving else None
    causes_at: dict[int, str] = {}
    for start in sorted(by_start):
        cause = _cause(by_start[start], causes_at.get(start - interval_s) is not None, serving_fb)
        if cause is not None:
            causes_at[start] = cause
    out: list[Incident] = []
    run: list[int] = []
    for start in sorted(causes_at):
        if start < window_start_s:
            continue
        if run and start != run[-1] + interval_s:
            out.append(_incident(pool, run, by_start, causes_at, interval_s))
            run = []
        run.append(start)
    if run:
        out.append(_incident(pool, run, by_start, causes_at, interval_s))
    return out


def _cause(s: PoolInterval, after_down: bool, serving_fb: float | None) -> str | None:
    if not s.gpus or s.serving:
        return None
    if s.engines == 0:
        return ENGINE_ABSENT
    if s.kv_capacity_tokens == 0:
        return KV_CAPACITY_ZERO
    filling = (
        serving_fb is not None
        and s.fb_used_bytes is not None
        and s.fb_used_bytes < FB_SERVING_FRACTION * serving_fb
    )
    return RELOADING if after_down and filling else None


def _incident(
    pool: str, run: list[int], by_start: dict[int, PoolInterval], causes_at: dict[int, str], interval_s: int
) -> Incident:
    gpus = sorted({g for start in run for g in by_start[start].gpus})
    seen = {causes_at[start] for start in run}
    return Incident(pool, run[0], run[-1] + interval_s, tuple(gpus), tuple(c for c in CAUSES if c in seen))


def split_at_grid(incidents: Iterable[Incident], grid_s: int) -> list[Incident]:
    """Each incident cut where it crosses a multiple of ``grid_s`` (unix seconds): stored parts then
    depend on the grid alone, not on the span of the run that found them, so re-detecting any aligned
    window replaces exactly its own parts."""
    out: list[Incident] = []
    for i in incidents:
        start = i.start_s
        while start < i.end_s:
            end = min(i.end_s, (start // grid_s + 1) * grid_s)
            out.append(Incident(i.pool, start, end, i.gpus, i.causes))
            start = end
    return out
