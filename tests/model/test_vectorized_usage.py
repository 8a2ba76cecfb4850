"""Usage handed to the vectorised engine as columns gives exactly the reference's lines.

The attribution job reads usage as columns and builds its pool-intervals without ``usage``; the engine
matches each row to its pool-interval. Any window the engines' property tests draw, with its usage moved
out into columns (and rows of a pool with no pool-interval added, which carry no money), must give the
lines and splits ``attribute_window`` gives for the original pool-intervals.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import assume, given
from hypothesis import strategies as st

from attribution.model.attribute import attribute_window
from attribution.model.split import PoolInterval
from attribution.model.vectorized import attribute_window_columns
from attribution.model.vectorized_usage import UsageColumns, with_usage
from attribution.store.columns import usage_columns_from_rows
from tests.support.windows import Window, windows

GHOST_POOL = "zz-no-gpus"
"""A pool with usage but no pool-interval: its usage is listed, never billed."""


def _columns(pools: list[PoolInterval], ghost_rows: int) -> UsageColumns:
    rows = [
        (
            p.interval_start_s,
            p.pool,
            tenant,
            tier,
            u.requests,
            u.prompt_tokens,
            u.generation_tokens,
            u.kv_token_seconds,
        )
        for p in pools
        for (tenant, tier), u in p.usage.items()
    ]
    starts = sorted({p.interval_start_s for p in pools})
    rows += [(starts[i % len(starts)], GHOST_POOL, "t", "x", 1, 2, 3, 5.0) for i in range(ghost_rows)][
        : len(starts)
    ]
    return usage_columns_from_rows(rows)


def _plain(pools: list[PoolInterval]) -> bool:
    """No duplicate pool-interval and token-seconds that are finite floats: what a stored window holds."""
    keys = [(p.pool, p.interval_start_s) for p in pools]
    seconds = [u.kv_token_seconds for p in pools for u in p.usage.values()]
    return len(set(keys)) == len(keys) and all(type(s) is float and math.isfinite(s) for s in seconds)


@given(windows(), st.integers(0, 3))
def test_usage_as_columns_gives_the_reference_lines(window: Window, ghost_rows: int) -> None:
    pools, cluster, policies, scope = window
    assume(pools and _plain(pools))
    usage = _columns(pools, ghost_rows)
    bare = [dataclasses.replace(p, usage={}) for p in pools]
    columns, splits = attribute_window_columns(bare, cluster, policies, scope, usage)
    expected = attribute_window(pools, cluster, policies, scope)
    assert columns.to_dict() == expected.lines
    assert [dataclasses.replace(s, lines={}) for s in splits] == [
        dataclasses.replace(s, lines={}) for s in expected.splits
    ]


@given(windows())
def test_with_usage_puts_back_the_pool_intervals(window: Window) -> None:
    pools = window[0]
    assume(pools and _plain(pools))
    bare = [dataclasses.replace(p, usage={}) for p in pools]
    assert with_usage(bare, _columns(pools, 2)) == pools
