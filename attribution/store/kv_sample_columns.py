"""The engines' KV samples of a window as columns: numpy arrays, never a Python object per sample.

A day of the full fleet is 437,760 ``kv_samples`` rows; read as the driver's tuples (seven Python objects
each) and then turned into columns through object arrays, they cost the job more CPU than Postgres spent
finding them. On Postgres the rows are grouped by (pool, engine), a few per pool, each sending its rows
as fixed-width binary records end to end (``string_agg``, as the usage and GPU readers do), decoded by
numpy a slice of :data:`SLICE_SECONDS` at a time. NULLs arrive as the row path gave them: a capacity
not reported is 0 with ``reports`` false, bytes per token 0, requests running NaN. SQLite (the demo)
reads rows: :func:`kv_sample_columns_from_rows` turns them into the same columns, and is the reference
the Postgres reader is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from attribution.model.vectorized_kernels import I64, Mask
from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.store.columns import (
    SLICE_SECONDS,
    epoch_seconds,
    hashed_grouping,
    name_codes,
    recoded,
    records_of,
)
from attribution.store.dialect import is_postgres
from attribution.store.inputs import kv_samples
from attribution.timeutil import windows_of

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KvSampleColumns:
    """One row per KV sample, in no particular order. ``pools`` and ``engines`` are sorted and hold only
    names some row uses."""

    pools: list[str]
    engines: list[str]
    start_s: I64
    pool: I64
    engine: I64
    ratio: F64
    tokens: I64
    """KV capacity in tokens, 0 where not reported (``reports`` false)."""
    reports: Mask
    bytes_per_token: I64
    """0 where not reported."""
    running: F64
    """Requests running, NaN where not reported."""

    def __len__(self) -> int:
        return int(self.start_s.size)


def kv_sample_columns(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> KvSampleColumns:
    """The KV samples of ``[start, end)`` in ``cluster``: Postgres' records, or SQLite's rows."""
    if not is_postgres(session):
        return kv_sample_columns_from_rows(kv_samples(session, start, end, cluster))
    parts = []
    with hashed_grouping(session):
        for at, stop in windows_of(start, end, timedelta(seconds=SLICE_SECONDS)):
            parts.append(_slice(session, at, stop, cluster))
    return concatenated(parts)


_RECORDS = """
SELECT pool, engine_id, count(*) AS n,
       string_agg(timestamptz_send(interval_start) || float8send(kv_usage_ratio)
                  || int8send(coalesce(kv_capacity_tokens, 0)) || int8send(coalesce(kv_bytes_per_token, 0))
                  || float8send(coalesce(requests_running, 'NaN'::float8))
                  || int2send((kv_capacity_tokens IS NOT NULL)::int::int2), ''::bytea) AS records
FROM kv_samples
WHERE interval_start >= %(start)s AND interval_start < %(end)s AND cluster = %(cluster)s
GROUP BY pool, engine_id
"""
"""Each (pool, engine)'s samples as 42-byte big-endian records (:data:`_RECORD`)."""

_RECORD = np.dtype(
    [
        ("us", ">i8"),
        ("ratio", ">f8"),
        ("tokens", ">i8"),
        ("bpt", ">i8"),
        ("running", ">f8"),
        ("reports", ">i2"),
    ]
)


def _slice(session: Session, start: datetime, end: datetime, cluster: str) -> KvSampleColumns:
    groups = records_of(session, _RECORDS, {"start": start, "end": end, "cluster": cluster})
    sizes = [int(g[2]) for g in groups]
    records = np.frombuffer(b"".join(g[3] for g in groups), dtype=_RECORD)
    if records.size != sum(sizes):
        raise ValueError(f"expected {sum(sizes)} KV records, got {records.size}")
    pools, pool = name_codes([g[0] for g in groups])
    engines, engine = name_codes([g[1] for g in groups])
    return KvSampleColumns(
        pools,
        engines,
        epoch_seconds(records["us"].astype(np.int64)),
        np.repeat(pool, sizes),
        np.repeat(engine, sizes),
        records["ratio"].astype(np.float64),
        records["tokens"].astype(np.int64),
        records["reports"] != 0,
        records["bpt"].astype(np.int64),
        records["running"].astype(np.float64),
    )


def kv_sample_columns_from_rows(rows: Sequence[Any]) -> KvSampleColumns:
    """Columns of :func:`attribution.store.inputs.kv_samples` rows (the driver's tuples, or any sequence
    in the order of :data:`attribution.store.inputs.KV_SAMPLE_COLUMNS`)."""
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 7
    ts, pool_col, engine_col, ratio, tokens, bpt, running = cols
    pools, pool = name_codes([str(p) for p in pool_col])
    engines, engine = name_codes([str(e) for e in engine_col])
    return KvSampleColumns(
        pools,
        engines,
        np.array(ts, dtype=np.int64).reshape(-1),
        pool,
        engine,
        np.array(ratio, dtype=np.float64).reshape(-1),
        np.array([v or 0 for v in tokens], dtype=np.int64).reshape(-1),
        np.array([v is not None for v in tokens], dtype=np.bool_).reshape(-1),
        np.array([v or 0 for v in bpt], dtype=np.int64).reshape(-1),
        np.array([math.nan if v is None else v for v in running], dtype=np.float64).reshape(-1),
    )


def concatenated(parts: Sequence[KvSampleColumns]) -> KvSampleColumns:
    """The rows of ``parts`` one after the other, their names coded anew."""
    pools = sorted({name for p in parts for name in p.pools})
    engines = sorted({name for p in parts for name in p.engines})

    def joined(arrays: list[Any], dtype: Any) -> Any:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    return KvSampleColumns(
        pools,
        engines,
        joined([p.start_s for p in parts], np.int64),
        joined([recoded(p.pools, pools, p.pool) for p in parts], np.int64),
        joined([recoded(p.engines, engines, p.engine) for p in parts], np.int64),
        joined([p.ratio for p in parts], np.float64),
        joined([p.tokens for p in parts], np.int64),
        joined([p.reports for p in parts], np.bool_),
        joined([p.bytes_per_token for p in parts], np.int64),
        joined([p.running for p in parts], np.float64),
    )


def as_kv_columns(samples: KvSampleColumns | Sequence[Any]) -> KvSampleColumns:
    """The job's columns as they are; rows (tests, the reference, hand-written samples) as columns."""
    return samples if isinstance(samples, KvSampleColumns) else kv_sample_columns_from_rows(samples)
