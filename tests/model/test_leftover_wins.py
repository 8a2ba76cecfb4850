"""Which elements take a leftover unit in ``largest_remainder``: the first ``quota`` of each group by
(-remainder, -weight, position). ``_wins`` sorts the packed keys themselves where group, remainder and
place in the group fit in int64, a stable argsort of (group, remainder) where only those fit, and a
three-key lexsort where not even they do; runs of equal remainders are then sorted again by weight (a
packed key, or a lexsort for huge weights). Every path must pick exactly the elements a plain ranking
picks. The end-to-end check against ``money.allocate`` is in test_vectorized.py; its values never reach
the paths where packing overflows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.vectorized_kernels import _wins

SMALL = st.integers(0, 3)  # ties of remainder and of weight, with different weights among them
LARGE = st.integers(0, 2**62)  # the packed keys overflow: the lexsort decides


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[int], list[int], list[int], list[int]]:
    values = draw(st.sampled_from([SMALL, LARGE, st.integers(0, 10**9)]))
    weights = draw(st.sampled_from([SMALL, LARGE, st.integers(0, 10**9)]))
    group: list[int] = []
    remainder: list[int] = []
    weight: list[int] = []
    quota: list[int] = []
    for g in range(draw(st.integers(1, 8))):
        size = draw(st.integers(1, 7))
        take = draw(st.integers(0, size))
        group += [g] * size
        quota += [take] * size
        remainder += draw(st.lists(values, min_size=size, max_size=size))
        weight += draw(st.lists(weights, min_size=size, max_size=size))
    return group, remainder, weight, quota


def _ranked(group: list[int], remainder: list[int], weight: list[int], quota: list[int]) -> list[bool]:
    order = sorted(range(len(group)), key=lambda i: (group[i], -remainder[i], -weight[i], i))
    wins = [False] * len(group)
    seen: dict[int, int] = {}
    for i in order:
        seen[group[i]] = seen.get(group[i], 0) + 1
        wins[i] = seen[group[i]] <= quota[i]
    return wins


@settings(max_examples=400, deadline=None)
@given(groups())
def test_wins_are_the_first_of_each_group_by_remainder_weight_position(
    case: tuple[list[int], list[int], list[int], list[int]],
) -> None:
    group, remainder, weight, quota = case
    arrays = [np.array(a, dtype=np.int64) for a in case]
    assert _wins(*arrays).tolist() == _ranked(group, remainder, weight, quota)


def test_equal_remainders_go_to_the_heavier_weight_then_the_earlier() -> None:
    group = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    remainder = np.array([5, 5, 5, 2, 2], dtype=np.int64)
    weight = np.array([1, 3, 3, 1, 1], dtype=np.int64)
    quota = np.array([2, 2, 2, 1, 1], dtype=np.int64)
    assert _wins(group, remainder, weight, quota).tolist() == [False, True, True, True, False]


@pytest.mark.parametrize(
    ("remainder_scale", "weight_scale"),
    [(1, 1), (2**59, 1), (2**61, 1), (1, 2**61), (2**59, 2**61)],
    ids=["packed-sort", "stable-argsort", "lexsort", "packed-sort-heavy-ties", "argsort-heavy-ties"],
)
def test_every_sort_path_ranks_alike(remainder_scale: int, weight_scale: int) -> None:
    """Each way ``_by_remainder`` sorts (the packed keys sorted themselves; a stable argsort when the
    place in the group no longer fits; the lexsort when not even group and remainder do) and each way
    ties are broken by weight (a packed key, or a lexsort when weights are huge) picks what the plain
    ranking picks. Two groups of four, each with a tie of remainders between different weights."""
    group = [0, 0, 0, 0, 1, 1, 1, 1]
    remainder = [v * remainder_scale for v in (1, 3, 3, 2, 2, 2, 0, 3)]
    weight = [v * weight_scale for v in (3, 1, 2, 2, 1, 3, 3, 1)]
    quota = [2, 2, 2, 2, 2, 2, 2, 2]
    arrays = [np.array(a, dtype=np.int64) for a in (group, remainder, weight, quota)]
    assert _wins(*arrays).tolist() == _ranked(group, remainder, weight, quota)
