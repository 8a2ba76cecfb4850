"""The lines' totals (``Contributions.take_totals``) against the ``np.unique`` build they replaced
(tests/support/line_oracle.py), and ``narrowest``: the same numbers in the narrowest integer type.

Contributions come in random order and components, at line ids that fit int32 and ids that do not
(int64), with amounts whose sums stay exact in floats and amounts whose sums do not (the ``np.add.at``
path); the totals must be the oracle's, value for value, each column in the narrowest type that holds it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.vectorized_kernels import NARROW_TYPES, NotVectorisableError, narrowest
from attribution.model.vectorized_lines import ADDED, Contributions
from tests.support.line_oracle import Contribution, unique_totals

AMOUNTS = st.sampled_from(
    [st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 2**40), st.integers(0, 2**54)]
)


@st.composite
def contributions(draw: st.DrawFn) -> tuple[int, int, int, list[Contribution]]:
    # a small id space (int32 ids) or one past int32 (int64 ids)
    n_starts = draw(st.sampled_from([1, 3, 7, 2**22]))
    n_pools, n_keys = draw(st.integers(1, 30)), draw(st.integers(1, 40))
    amounts = draw(AMOUNTS)
    added: list[Contribution] = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(["present", *ADDED]))
        size = draw(st.integers(0, 12))

        def column(bound: int, size: int = size) -> np.ndarray:
            return np.array(
                draw(st.lists(st.integers(0, bound - 1), min_size=size, max_size=size)), dtype=np.int64
            )

        start = column(min(n_starts, 50)) if n_starts < 2**22 else column(n_starts)
        values = np.array(draw(st.lists(amounts, min_size=size, max_size=size)), dtype=np.int64)
        added.append((name, start, column(n_pools), column(n_keys), values))
    return n_starts, n_pools, n_keys, added


@settings(max_examples=300, deadline=None)
@given(contributions())
def test_totals_are_the_unique_builds(case: tuple[int, int, int, list[Contribution]]) -> None:
    n_starts, n_pools, n_keys, added = case
    out = Contributions(n_starts, n_pools, n_keys)
    for name, start, pool, key, amount in added:
        if name == "present":
            out.add_split_lines(start, pool, key, amount, amount)
        else:
            out.add(start, pool, key, name, amount)
    start, pool, key, sums = out.take_totals()
    expected = unique_totals(n_pools, n_keys, added)
    for got, want in zip((start, pool, key, *sums), (*expected[:3], *expected[3]), strict=True):
        assert np.array_equal(got, want)
        assert got.dtype == narrowest(want).dtype
    assert not out.present and not any(out.ids.values()) and not any(out.amounts.values())


@settings(max_examples=300)
@given(st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-300, 300), max_size=20))
def test_narrowest_holds_the_same_numbers(values: list[int]) -> None:
    column = np.array(values, dtype=np.int64)
    narrow = narrowest(column)
    assert np.array_equal(narrow, column)
    assert narrow.tolist() == values
    if values:
        position = NARROW_TYPES.index(narrow.dtype.type)
        if position:  # the next narrower type does not hold them all
            info = np.iinfo(NARROW_TYPES[position - 1])
            assert min(values) < info.min or max(values) > info.max
        floats = narrowest(column.astype(np.float64)) if max(map(abs, values)) < 2**53 else narrow
        assert np.array_equal(floats, column)


def test_narrowest_refuses_what_is_not_an_integer_of_int64() -> None:
    with pytest.raises(NotVectorisableError):
        narrowest(np.array([2.0**63]))
    with pytest.raises(NotVectorisableError):
        narrowest(np.array([np.nan]))
