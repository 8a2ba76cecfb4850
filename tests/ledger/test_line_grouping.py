"""``line_rows``' grouping helpers against the ones they replaced (tests/support/line_oracle.py).

The group code is built in place and in int32 where it fits, the estimated flags are looked up once per
run of one pool-interval's rows, and token-seconds are summed a chunk of groups at a time; the oracles
built an int64 code from full-length temporaries, ran ``isin`` over every row and made one list of every
value. Rows come sorted (as the engine's lines and the usage columns do) or shuffled, codes in narrow
types (as the engine's) or int64, grains of one interval or many, and codes too wide for int64 (the
``lexsort`` path): same order, groups, flags and sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.ledger import lines
from tests.support import line_oracle

T0 = 1_790_812_800
POOLS = ["a", "b", "c", "d"]


@st.composite
def rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 60))
    step = draw(st.sampled_from([60, 3600]))
    starts = [T0 + step * draw(st.integers(0, 30)) for _ in range(n)]
    pools = draw(st.lists(st.integers(0, len(POOLS) - 1), min_size=n, max_size=n))
    wide = draw(st.booleans())  # keys so far apart the code would not fit in int64
    keys = draw(st.lists(st.integers(0, 2**61 if wide else 9), min_size=n, max_size=n))
    columns = (
        sorted(zip(starts, pools, keys, strict=True))
        if draw(st.booleans())
        else list(zip(starts, pools, keys, strict=True))
    )
    start = np.array([c[0] for c in columns], dtype=np.int64)
    narrow = draw(st.booleans()) and not wide
    pool = np.array([c[1] for c in columns], dtype=np.int16 if narrow else np.int64)
    key = np.array([c[2] for c in columns], dtype=np.int16 if narrow else np.int64)
    return start, pool, key, draw(st.sampled_from([60, 3600, 86400]))


@settings(max_examples=300, deadline=None)
@given(rows(), st.data())
def test_grouping_is_the_oracles(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int], data: st.DataObject
) -> None:
    start, pool, key, grain = case
    got = lines._group(start, pool, key, grain)
    want = line_oracle.group(start, pool, key, grain)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)
    pairs = sorted({(int(s), POOLS[int(p)]) for s, p in zip(start, pool, strict=True)})
    estimated = set(data.draw(st.lists(st.sampled_from(pairs), max_size=len(pairs))))
    estimated |= {(T0 - 60, "a"), (int(start[0]), "z")}  # an interval without rows, a pool without a code
    flags = lines._estimated_rows(start, pool, POOLS, estimated)
    assert np.array_equal(flags, line_oracle.estimated_rows(start, pool, POOLS, estimated))
    values = np.array(
        data.draw(
            st.lists(st.floats(-1e12, 1e12) | st.floats(0, 1e-300), min_size=start.size, max_size=start.size)
        )
    )
    order, first = got[0], got[1]
    assert np.array_equal(lines._fsums(values, order, first), line_oracle.fsums(values, order, first))


def test_fsums_in_chunks_of_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups across chunk edges: more groups than a chunk holds."""
    monkeypatch.setattr(lines, "GROUPS_PER_CHUNK", 3)
    rng = np.random.default_rng(14)
    values = rng.normal(0, 1e9, 500)
    order = rng.permutation(500).astype(np.int64)
    first = np.unique(np.r_[0, rng.integers(1, 500, 40)]).astype(np.int64)
    assert np.array_equal(lines._fsums(values, order, first), line_oracle.fsums(values, order, first))
