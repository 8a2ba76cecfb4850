"""The columnar incident detector finds exactly the incidents of the object one (the reference).

Random pool-intervals of a few pools: gaps in the grid, context before the window and rows past its end,
pools not watched, engines absent, capacities unknown (None), zero or summed, framebuffers unknown, filling
(around the serving fraction) or beyond 2**53 bytes summed, and gateway usage. The columnar detector
leaves ``gpus`` to its caller: here they are the union of the drawn GPUs over the incident's intervals, as
the job reads them from ``gpu_samples``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.incidents import FB_SERVING_FRACTION, Incident, PoolInterval, detect_incidents
from attribution.model.vectorized_incidents import (
    PoolIntervalColumns,
    detect_incident_columns,
    mean_fb_used_bytes,
)

STEP = 60
T0 = 1_800_000_000 - 1_800_000_000 % 3600
CONTEXT = 10
POOLS = ("a", "b", "c")
SERVING_FB = 70_000_000_000

Cell = tuple[tuple[str, ...], int, int, int, int, int, bool]
"""GPUs, engines, capacity known, capacity sum, framebuffer rows, framebuffer sum, serving."""

fb_row = st.sampled_from([0, 20_000_000_000, 66_500_000_000, 66_499_999_999, SERVING_FB, 2**60])
cells = st.builds(
    lambda gpus, engines, known, capacity, fb, serving: (
        tuple(sorted(gpus)),
        engines,
        min(known, engines),
        capacity if min(known, engines) else 0,
        len(fb),
        sum(fb),
        serving,
    ),
    st.sets(st.sampled_from(["GPU-1", "GPU-2", "GPU-3"]), min_size=1, max_size=3),
    st.sampled_from([0, 0, 1, 2]),
    st.integers(0, 2),
    st.sampled_from([0, 1000, 4000]),
    st.lists(fb_row, max_size=3),
    st.sampled_from([False, False, False, True]),
)
#: pool -> grid slot (0 is the first context interval) -> what was collected there
grids = st.dictionaries(
    st.sampled_from(POOLS), st.dictionaries(st.integers(0, CONTEXT + 30), cells, max_size=40), max_size=3
)


def objects(grid: dict[str, dict[int, Cell]]) -> list[PoolInterval]:
    return [
        PoolInterval(
            pool,
            T0 + slot * STEP,
            gpus,
            engines,
            capacity if known else None,
            fb_sum / fb_rows if fb_rows else None,
            serving,
        )
        for pool, slots in grid.items()
        for slot, (gpus, engines, known, capacity, fb_rows, fb_sum, serving) in slots.items()
    ]


def columns(grid: dict[str, dict[int, Cell]]) -> PoolIntervalColumns:
    pools = sorted(grid)
    rows = [(pools.index(p), slot, cell) for p in pools for slot, cell in sorted(grid[p].items())]

    def col(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    return PoolIntervalColumns(
        pools=pools,
        pool=col([p for p, _, _ in rows]),
        start_s=col([T0 + slot * STEP for _, slot, _ in rows]),
        fb_used_bytes=col([c[5] for _, _, c in rows]),
        fb_used_rows=col([c[4] for _, _, c in rows]),
        engines=col([c[1] for _, _, c in rows]),
        kv_capacity_tokens=col([c[3] for _, _, c in rows]),
        kv_capacity_known=col([c[2] for _, _, c in rows]),
        serving=np.array([c[6] for _, _, c in rows], dtype=np.bool_),
    )


def with_gpus(found: list[Incident], grid: dict[str, dict[int, Cell]]) -> list[Incident]:
    def held(i: Incident) -> tuple[str, ...]:
        slots = range((i.start_s - T0) // STEP, (i.end_s - T0) // STEP)
        return tuple(sorted({g for s in slots if s in grid[i.pool] for g in grid[i.pool][s][0]}))

    return [replace(i, gpus=held(i)) for i in found]


@settings(max_examples=400, deadline=None)
@given(grid=grids, n=st.integers(1, 25), watched=st.sets(st.sampled_from(POOLS)))
def test_the_columns_find_the_reference_incidents(
    grid: dict[str, dict[int, Cell]], n: int, watched: set[str]
) -> None:
    window = (T0 + CONTEXT * STEP, T0 + (CONTEXT + n) * STEP)
    expected = detect_incidents(objects(grid), *window, STEP, watched)
    got = detect_incident_columns(columns(grid), *window, STEP, watched)
    assert all(i.gpus == () for i in got)
    assert with_gpus(got, grid) == expected


def test_the_rule_is_exercised() -> None:
    """A pool down (engine absent), then reloading for two intervals, then serving; a second pool's
    capacity zero inside the window and absent only in the context: every cause, and context that counts
    for the rule but never as an incident."""
    up: Cell = (("GPU-1",), 1, 1, 1000, 1, SERVING_FB, False)
    filling: Cell = (("GPU-1", "GPU-2"), 1, 1, 1000, 1, 30_000_000_000, False)
    absent: Cell = (("GPU-1",), 0, 0, 0, 1, 0, False)
    zero: Cell = (("GPU-3",), 1, 1, 0, 0, 0, False)
    grid = {
        "a": {9: up, 10: absent, 11: filling, 12: filling, 13: up, 14: filling},
        "b": {8: absent, 9: filling, 10: filling, 11: zero, 12: up},
    }
    window = (T0 + CONTEXT * STEP, T0 + 20 * STEP)
    expected = detect_incidents(objects(grid), *window, STEP, POOLS)
    assert [(i.pool, i.start_s, i.end_s, i.cause) for i in expected] == [
        ("a", window[0], window[0] + 3 * STEP, "engine_absent,reloading"),
        ("b", window[0], window[0] + 2 * STEP, "kv_capacity_zero,reloading"),
    ]
    assert with_gpus(detect_incident_columns(columns(grid), *window, STEP, POOLS), grid) == expected


def test_the_serving_level_and_the_filling_bound_are_the_references() -> None:
    """The serving level ignores intervals whose KV capacity is zero (pool ``a``: 100 GB there, 70 GB
    when serving, so 70 GB after the absence is serving, not filling), and a mean exactly at the serving
    fraction is not filling (pool ``b``: 0.95 x 70 GB is 66.5 GB exactly as a float)."""
    zero_full: Cell = (("GPU-1",), 1, 1, 0, 1, 100_000_000_000, False)
    absent: Cell = (("GPU-1",), 0, 0, 0, 1, 0, False)
    up: Cell = (("GPU-1",), 1, 1, 1000, 1, SERVING_FB, False)
    at_bound: Cell = (("GPU-1",), 1, 1, 1000, 1, 66_500_000_000, False)
    assert FB_SERVING_FRACTION * SERVING_FB == 66_500_000_000.0
    grid = {"a": {9: zero_full, 10: absent, 11: up, 12: up}, "b": {10: absent, 11: at_bound, 12: up}}
    window = (T0 + CONTEXT * STEP, T0 + 20 * STEP)
    expected = detect_incidents(objects(grid), *window, STEP, POOLS)
    assert [(i.pool, i.start_s, i.end_s, i.cause) for i in expected] == [
        ("a", window[0], window[0] + STEP, "engine_absent"),
        ("b", window[0], window[0] + STEP, "engine_absent"),
    ]
    assert with_gpus(detect_incident_columns(columns(grid), *window, STEP, POOLS), grid) == expected


def test_the_mean_framebuffer_is_pythons_division() -> None:
    sums = [7, 2**53 + 1, 3 * 2**60 + 5, -(2**55) - 3, 0]
    rows = [3, 3, 7, 5, 0]
    got = mean_fb_used_bytes(np.array(sums, dtype=np.int64), np.array(rows, dtype=np.int64))
    assert got[:4].tolist() == [s / n for s, n in zip(sums[:4], rows[:4], strict=True)]
    assert np.isnan(got[4])
