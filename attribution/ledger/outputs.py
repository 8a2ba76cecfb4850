"""The attribution job's outputs as columns for the store: its lines and pool costs, written by COPY
straight from numpy (:mod:`attribution.store.column_copy`), never one Python object per row.

A month is 864,000 pool-intervals and 171,000 lines; as dicts or tuples of Python values (a datetime,
names, ``.tolist()`` per column) they cost the job more than computing them did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from attribution.ledger.inputs import ModelInputs
from attribution.ledger.lines import COUNTS, SUMMED, LineRows
from attribution.model.vectorized_kernels import I64
from attribution.model.vectorized_pools import PoolResults
from attribution.store.column_copy import ColumnValues, Names

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STORED_MONEY = {c: f"{c}_usd_micros" for c in SUMMED}
"""The stored column of each summed line component."""


def covered_seconds(interval_start_s: I64, grain_seconds: int, end: datetime) -> I64:
    """Each line's attributed seconds of its grain: the whole grain, or up to ``end`` for the last one
    (whole seconds, rounded down, as a grain starts on a whole second)."""
    end_s = (end - EPOCH) // timedelta(seconds=1)
    covered: I64 = np.minimum(interval_start_s + grain_seconds, end_s) - interval_start_s
    return covered


def line_columns(lines: LineRows, covered: I64, cluster: str) -> dict[str, ColumnValues]:
    """The ``attributed_costs`` columns of ``lines``, ``covered`` their :func:`covered_seconds`."""
    return {
        "interval_start": lines.interval_start_s,
        "pool": Names(lines.pool, lines.pools),
        "tenant": Names(lines.key, [tenant for tenant, _tier in lines.keys]),
        "tier": Names(lines.key, [tier for _tenant, tier in lines.keys]),
        **{STORED_MONEY[c]: lines.money[c] for c in SUMMED},
        "idle_usd_micros": lines.idle,
        "total_usd_micros": lines.total,
        "kv_token_seconds": lines.kv_token_seconds,
        "kv_byte_seconds": lines.kv_byte_seconds,
        **{c: lines.counts[c] for c in COUNTS},
        "estimated": lines.estimated,
        "covered_seconds": covered,
        "cluster": cluster,
    }


def pool_columns(results: PoolResults, inputs: ModelInputs, cluster: str) -> dict[str, ColumnValues]:
    """The ``pool_costs`` columns, one row per pool-interval. The GPUs of each pool-interval are the
    inputs' row of the same position, which the check below holds the two to."""
    names = np.array(results.pools, dtype=object)[results.pool]
    input_names = np.array(inputs.pools.pools, dtype=object)[inputs.pools.pool]
    if not (np.array_equal(results.start, inputs.pools.start) and np.array_equal(names, input_names)):
        raise AssertionError("the splits are not in the order of the pool-intervals")
    return {
        "interval_start": results.start,
        "pool": Names(results.pool, results.pools),
        "cluster": cluster,
        "gpu_count": inputs.pool_gpus,
        "memory_bytes": results.memory,
        "kv_capacity_bytes": results.capacity,
        "kv_in_use_bytes": results.in_use,
        "cost_usd_micros": results.cost,
        "kv_in_use_usd_micros": results.kv_in_use,
        "kv_free_usd_micros": results.kv_free,
        "static_usd_micros": results.static,
        "idle_usd_micros": results.idle,
        "unmeasured_usd_micros": results.unmeasured,
        "recovery_usd_micros": results.recovery,
        "estimated": results.estimated,
    }
