"""The incident detector on scrape-level timelines, reduced to intervals the way the collectors store them.

An interval ``[t, t + 60)`` holds the scrapes in ``(t, t + 60]`` (``avg_over_time`` at ``t + 60``): the
engine has a KV sample when it answered at least one of them, and the framebuffer is their mean.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.incidents import (
    ENGINE_ABSENT,
    KV_CAPACITY_ZERO,
    RELOADING,
    Incident,
    PoolInterval,
    detect_incidents,
    split_at_grid,
)

STEP, SCRAPE = 60, 15
PER = STEP // SCRAPE
T0 = 1_800_000_000 - 1_800_000_000 % 3600  # an hour boundary
SERVING = 70.0e9
GPUS = ("GPU-a", "GPU-b")

#: (engine up, its length in scrapes, framebuffer fraction while down)
segments = st.lists(
    st.tuples(st.booleans(), st.integers(1, 40), st.sampled_from([0.0, 0.3, 1.0])), min_size=1, max_size=12
)


def timeline(segs: list[tuple[bool, int, float]], scrapes: int) -> list[tuple[bool, float]]:
    """(up, framebuffer) at each scrape; a pattern shorter than ``scrapes`` ends up."""
    out = [(up, SERVING if up else SERVING * fb) for up, n, fb in segs for _ in range(n)]
    return (out + [(True, SERVING)] * scrapes)[:scrapes]


def intervals(pool: str, scrapes: list[tuple[bool, float]], first_s: int) -> list[PoolInterval]:
    out = []
    for i in range(len(scrapes) // PER):
        seen = scrapes[i * PER : (i + 1) * PER]  # scrapes at t + 15 ... t + 60
        engines = 1 if any(up for up, _ in seen) else 0
        fb = sum(f for _, f in seen) / len(seen)
        out.append(PoolInterval(pool, first_s + i * STEP, GPUS, engines, 1000 if engines else None, fb))
    return out


def detect(samples: list[PoolInterval], n: int, watched: tuple[str, ...] = ("p",)) -> list[Incident]:
    """The window is the ``n`` intervals after the first (context) one."""
    return detect_incidents(samples, T0 + STEP, T0 + STEP * (n + 1), STEP, watched)


@settings(max_examples=300, deadline=None)
@given(segs=segments, n=st.integers(1, 40))
def test_incidents_are_disjoint_aligned_and_inside_the_window(
    segs: list[tuple[bool, int, float]], n: int
) -> None:
    found = detect(intervals("p", timeline(segs, (n + 1) * PER), T0), n)
    for a, b in itertools.pairwise(found):
        assert a.end_s < b.start_s  # disjoint, and two incidents are never adjacent (they would be one)
    for i in found:
        assert T0 + STEP <= i.start_s < i.end_s <= T0 + STEP * (n + 1)
        assert (i.start_s - T0) % STEP == 0 and (i.end_s - T0) % STEP == 0
        assert i.gpus == GPUS and i.causes


@settings(max_examples=300, deadline=None)
@given(segs=segments, n=st.integers(1, 40))
def test_every_silent_interval_is_in_an_incident_and_no_incident_where_the_engine_always_answered(
    segs: list[tuple[bool, int, float]], n: int
) -> None:
    scrapes = timeline(segs, (n + 1) * PER)
    found = detect(intervals("p", scrapes, T0), n)
    inside = {t for i in found for t in range(i.start_s, i.end_s, STEP)}
    for k in range(1, n + 1):
        seen = scrapes[k * PER : (k + 1) * PER]
        t = T0 + k * STEP
        if not any(up for up, _ in seen):
            assert t in inside
        if all(up for up, _ in seen):
            assert t not in inside


@settings(max_examples=300, deadline=None)
@given(segs=segments, n=st.integers(1, 40))
def test_a_lapse_shorter_than_an_interval_is_no_incident(segs: list[tuple[bool, int, float]], n: int) -> None:
    """A missed scrape (a gap under one scrape interval) or any down run that leaves the engine a sample
    in every interval is not an incident: the detector's resolution is the interval."""
    short = [(up, length if up else min(length, PER - 1), fb) for up, length, fb in segs]
    spaced = [seg for s in short for seg in (s, (True, PER, 1.0))]  # a healthy interval between lapses
    assert detect(intervals("p", timeline(spaced, (n + 1) * PER), T0), n) == []


@settings(max_examples=100, deadline=None)
@given(segs=segments, n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_the_order_of_the_samples_changes_nothing(
    segs: list[tuple[bool, int, float]], n: int, seed: int
) -> None:
    scrapes = timeline(segs, (n + 1) * PER)
    samples = intervals("p", scrapes, T0) + intervals("q", scrapes[::-1], T0)
    shuffled = samples[:]
    random.Random(seed).shuffle(shuffled)
    assert detect(shuffled, n, ("p", "q")) == detect(samples, n, ("p", "q"))


def test_a_restart_absent_then_reloading() -> None:
    """Absent two intervals, then back in the middle of the third with the framebuffer still filling."""
    scrapes = (
        [(True, SERVING)] * 8 + [(False, 0.0)] * 8 + [(False, 0.3 * SERVING)] * 2 + [(True, SERVING)] * 10
    )
    found = detect(intervals("p", scrapes, T0), 6)
    assert found == [Incident("p", T0 + 2 * STEP, T0 + 5 * STEP, GPUS, (ENGINE_ABSENT, RELOADING))]


def test_capacity_zero_unallocated_and_unwatched_pools() -> None:
    at = T0 + STEP
    zero = PoolInterval("p", at, GPUS, 1, 0, SERVING)
    assert detect([zero], 1) == [Incident("p", at, at + STEP, GPUS, (KV_CAPACITY_ZERO,))]
    assert detect([PoolInterval("p", at, (), 0, None, None)], 1) == []  # no GPUs held: nothing paid
    assert detect([PoolInterval("p", at, GPUS, 0, None, None)], 1, watched=()) == []  # engines never read


@given(
    start=st.integers(0, 200),
    length=st.integers(1, 200),
    grid=st.sampled_from([60, 300, 3600]),
)
def test_parts_on_a_grid_tile_the_incident(start: int, length: int, grid: int) -> None:
    incident = Incident("p", T0 + start * STEP, T0 + (start + length) * STEP, GPUS, (ENGINE_ABSENT,))
    parts = split_at_grid([incident], grid)
    assert parts[0].start_s == incident.start_s and parts[-1].end_s == incident.end_s
    for a, b in itertools.pairwise(parts):
        assert a.end_s == b.start_s and a.end_s % grid == 0
    assert all(p.start_s < p.end_s and p.start_s // grid == (p.end_s - 1) // grid for p in parts)


@settings(max_examples=200, deadline=None)
@given(segs=segments, n=st.integers(1, 40), served=st.lists(st.booleans(), min_size=41, max_size=41))
def test_an_interval_the_gateway_reports_served_is_never_down(
    segs: list[tuple[bool, int, float]], n: int, served: list[bool]
) -> None:
    """KV token-seconds at the gateway mean requests ran: whatever the engine series say (absent, zero
    capacity, framebuffer filling), such an interval lies in no incident; the others are judged as before."""
    base = intervals("p", timeline(segs, (n + 1) * PER), T0)
    marked = [replace(s, serving=flag) for s, flag in zip(base, served, strict=False)]
    found = detect(marked, n)
    down = {t for i in found for t in range(i.start_s, i.end_s, STEP)}
    assert not down & {s.start_s for s in marked if s.serving}
    # an engine-absent interval not served is still found, served or not around it
    for s in marked:
        if s.start_s >= T0 + STEP and not s.serving and s.engines == 0:
            assert s.start_s in down


def test_an_absent_engine_with_gateway_usage_is_not_an_incident() -> None:
    """The engine's scrapes were all lost in the minute, but the gateway counted token-seconds."""
    lost = PoolInterval("p", T0 + STEP, GPUS, 0, None, SERVING, serving=True)
    assert detect([lost], 1) == []
    assert detect([replace(lost, serving=False)], 1)[0].cause == ENGINE_ABSENT
