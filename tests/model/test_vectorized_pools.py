"""Pool-intervals as columns end to end: ``attribute_columns`` over ``PoolColumns`` and usage columns gives
the reference's lines and splits, to the micro-dollar.

The attribution job builds its pool-intervals as columns and reads the engine's pool-level results as
columns (``PoolResults``); no ``PoolInterval`` or ``PoolSplit`` is built on its path. The converters
(``PoolColumns.from_objects``/``to_objects``, ``PoolResults.to_splits``/``from_splits``) let the
reference engine, over objects, stay the oracle: any window the engines' property tests draw, turned into
columns, must give what ``attribute_window`` gives for the objects.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from attribution.model import vectorized_settle
from attribution.model.attribute import attribute_window
from attribution.model.split import PoolInterval
from attribution.model.vectorized import attribute_columns
from attribution.model.vectorized_pools import POLICIES, PoolColumns, PoolResults, usage_of
from attribution.model.vocabulary import FixedPolicy
from tests.support.windows import Window, windows


def _plain(pools: list[PoolInterval]) -> bool:
    """No duplicate pool-interval and token-seconds that are finite floats: what a stored window holds."""
    keys = [(p.pool, p.interval_start_s) for p in pools]
    seconds = [u.kv_token_seconds for p in pools for u in p.usage.values()]
    return len(set(keys)) == len(keys) and all(type(s) is float and math.isfinite(s) for s in seconds)


def _bare(p: PoolInterval) -> PoolInterval:
    """What the columns keep: no usage, and a running reading of NaN is none (only ``> 0`` is read)."""
    running = p.requests_running
    return dataclasses.replace(
        p, usage={}, requests_running=None if running is None or math.isnan(running) else running
    )


def test_every_fixed_policy_has_a_code() -> None:
    assert sorted(POLICIES) == sorted(FixedPolicy)


@given(windows())
def test_columns_and_objects_convert_both_ways(window: Window) -> None:
    pools = window[0]
    columns = PoolColumns.from_objects(pools)
    assert repr(columns.to_objects()) == repr([_bare(p) for p in pools])  # NaN readings compare by repr


@given(windows())
def test_idle_shared_a_few_elements_at_a_time_gives_the_reference(window: Window) -> None:
    """The idle shares are booked a chunk at a time (``share`` yields them); chunks of two elements cut
    every window the tests draw into many, gaps and recovery among them, as a full-fleet day is."""
    pools, cluster, policies, scope = window
    assume(pools and _plain(pools))
    chunk = vectorized_settle.CHUNK_ELEMENTS
    vectorized_settle.CHUNK_ELEMENTS = 2
    try:
        lines, results = attribute_columns(
            PoolColumns.from_objects(pools), cluster, policies, scope, usage_of(pools)
        )
    finally:
        vectorized_settle.CHUNK_ELEMENTS = chunk
    expected = attribute_window(pools, cluster, policies, scope)
    assert lines.to_dict() == expected.lines
    assert results.to_splits() == [dataclasses.replace(s, lines={}) for s in expected.splits]


@given(windows(), st.booleans())
def test_the_columnar_path_gives_the_reference(window: Window, shuffle: bool) -> None:
    pools, cluster, policies, scope = window
    assume(pools and _plain(pools))
    columns = PoolColumns.from_objects(pools)
    if shuffle:  # the engine must not depend on the order of the rows it is given
        columns = columns.take(np.arange(len(columns))[::-1].copy())
    lines, results = attribute_columns(columns, cluster, policies, scope, usage_of(pools))
    expected = attribute_window(pools, cluster, policies, scope)
    assert lines.to_dict() == expected.lines
    want = [dataclasses.replace(s, lines={}) for s in expected.splits]
    assert results.to_splits() == want
    assert PoolResults.from_splits(want).to_splits() == want
    # what the lines read of the estimates: the reference's estimated pool-intervals, no more, no less
    assert results.estimated_keys() == {(s.interval_start_s, s.pool) for s in want if s.estimated}
