"""The pool-intervals' KV figures as columns (``ledger.kv_columns.pool_kv``) against the loop they replace.

``reference_pool_kv`` is the per-interval loop ``build_inputs`` ran before (``_pool_kv`` and its carried
capacity), kept here as the oracle, with its samples taken in (pool, interval, engine) order. Review
finding kept from before: a pool's mean KV usage must not depend on the order its engines' rows are read
(``kv_samples`` has no ORDER BY), so shuffled rows give the same columns.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.ledger.kv_columns import pool_kv

T0, STEP = 1_790_000_000 - 1_790_000_000 % 3600, 60
POOLS = ["a", "b", "c"]


def reference_pool_kv(
    rows: list[tuple[Any, ...]], pis: list[tuple[int, str]], fallback: dict[str, int], end: int
) -> tuple[list[tuple[int | None, float | None, int, float | None]], dict[str, int]]:
    """(capacity, ratio, bytes per token, running) per pool-interval, and the final bytes per token."""
    bpt = dict(fallback)
    capacity_seen: dict[str, tuple[int, int]] = {}
    by_ts: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r[1], r[0], r[2])):
        by_ts[r[0]].append(r)
    out: dict[tuple[int, str], tuple[int | None, float | None, int, float | None]] = {}
    for ts in range(T0, end, STEP):
        totals: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        running: dict[str, float] = {}
        for _, pool, _engine, ratio, reported_tokens, reported_bpt, run in by_ts.get(ts, []):
            if run is not None:
                running[pool] = running.get(pool, 0.0) + float(run)
            carried = capacity_seen.get(pool)
            if reported_tokens is not None:
                tokens, per_token = reported_tokens, reported_bpt or bpt.get(pool, 1)
            elif carried is not None:
                tokens, per_token = carried
            else:
                continue
            capacity_seen[pool] = (tokens, per_token)
            bpt[pool] = per_token
            totals[pool][0].append(tokens * per_token)
            totals[pool][1].append(ratio * tokens * per_token)
        sums = {pool: (math.fsum(caps), math.fsum(used)) for pool, (caps, used) in totals.items()}
        kv = {pool: (round(cap), (used / cap) if cap else None) for pool, (cap, used) in sums.items()}
        for t, pool in pis:
            if t == ts:
                seen = capacity_seen.get(pool)
                carried_cap = None if seen is None else seen[0] * seen[1]
                cap, ratio = kv.get(pool, (carried_cap, None))
                out[(t, pool)] = (cap, ratio, bpt.get(pool, 1), running.get(pool))
    return [out[p] for p in pis], bpt


SAMPLE = st.tuples(
    st.integers(0, 5),  # interval
    st.sampled_from(POOLS),
    st.sampled_from(["e1", "e2", "e3"]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.one_of(st.none(), st.integers(0, 2_000_000)),
    st.one_of(st.none(), st.just(0), st.integers(1, 400_000)),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=64.0, allow_nan=False)),
)


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(SAMPLE, max_size=30, unique_by=lambda s: (s[0], s[1], s[2])),
    present=st.lists(st.tuples(st.integers(0, 6), st.sampled_from([*POOLS, "d"])), max_size=20, unique=True),
    fallback=st.dictionaries(st.sampled_from(POOLS), st.integers(1, 1000), max_size=2),
    data=st.data(),
)
def test_pool_kv_columns_equal_the_loop(
    samples: list[tuple[Any, ...]],
    present: list[tuple[int, str]],
    fallback: dict[str, int],
    data: st.DataObject,
) -> None:
    end = T0 + 6 * STEP
    rows = [(T0 + i * STEP, pool, *rest) for i, pool, *rest in samples]
    pis = sorted((T0 + i * STEP, pool) for i, pool in present if T0 + i * STEP < end)
    names = sorted({p for _, p in pis})
    starts = np.array([t for t, _ in pis], dtype=np.int64)
    codes = np.array([names.index(p) for _, p in pis], dtype=np.int64)
    shuffled = data.draw(st.permutations(rows))
    got = pool_kv(shuffled, names, starts, codes, fallback, (T0, end, STEP))
    want, final = reference_pool_kv(rows, pis, fallback, end)
    assert got.final_bytes_per_token == final
    for i, (cap, ratio, per_token, running) in enumerate(want):
        assert (int(got.capacity[i]) if got.has_capacity[i] else None) == cap
        assert (float(got.ratio[i]) if got.has_ratio[i] else None) == ratio
        assert int(got.bytes_per_token[i]) == per_token
        if running is None:
            assert math.isnan(got.running[i])
        else:  # summed in another order; engine activity reads only its sign
            assert got.running[i] == running or math.isclose(got.running[i], running)
            assert (got.running[i] > 0) == (running > 0)


ENGINE = st.tuples(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.integers(min_value=1, max_value=2_000_000),
    st.integers(min_value=1, max_value=400_000),
)


@given(engines=st.lists(ENGINE, min_size=3, max_size=8), data=st.data())
def test_pool_kv_is_independent_of_row_order(
    engines: list[tuple[float, int, int]], data: st.DataObject
) -> None:
    rows = [(T0, "chat", f"e{i}", ratio, tokens, bpt, None) for i, (ratio, tokens, bpt) in enumerate(engines)]
    shuffled = data.draw(st.permutations(rows))
    one, zero = np.array([T0], dtype=np.int64), np.zeros(1, dtype=np.int64)
    first = pool_kv(rows, ["chat"], one, zero, {}, (T0, T0 + STEP, STEP))
    second = pool_kv(shuffled, ["chat"], one, zero, {}, (T0, T0 + STEP, STEP))
    assert first.capacity.tolist() == second.capacity.tolist()
    assert first.ratio.tolist() == second.ratio.tolist()
