"""Lines written from columns (``replace_window_columns``: a binary COPY assembled with numpy on Postgres,
INSERTs of the columns' dicts elsewhere or for few rows) are the rows ``replace_window`` writes from
dicts, bit for bit: on both databases, above and below the COPY threshold, with any names (empty,
multi-byte) and any finite float (signed zero, subnormal, huge)."""

from __future__ import annotations

import itertools
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.column_copy import (
    Names,
    Nulls,
    binary_copy_chunks,
    binary_copy_data,
    column_dicts,
    replace_window_columns,
    upsert_columns,
)
from attribution.store.tables import AttributedCost, GpuSample, TenantUsage
from attribution.store.writes import COPY_MIN_ROWS, bulk_upsert, replace_window

START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=30)  # wider than the hours of the largest batch (251)
TABLE = AttributedCost.__table__
INTS = (
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "idle_cold_usd_micros",
    "idle_warm_usd_micros",
    "kv_headroom_usd_micros",
    "unmeasured_usd_micros",
    "recovery_usd_micros",
    "total_usd_micros",
    "requests",
    "prompt_tokens",
    "generation_tokens",
)
FLOATS = ("kv_token_seconds", "kv_byte_seconds")

name = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
batch = st.fixed_dictionaries(
    {
        "pools": st.lists(name, min_size=1, max_size=3, unique=True),
        "tenants": st.lists(name, min_size=1, max_size=4, unique=True),
        "int8": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20),
        "int4": st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=5),
        "floats": st.lists(finite, min_size=1, max_size=20),
        "big": st.booleans(),
    }
)


def _columns(b: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Unique keys (hour x pool x tenant x tier), then every value column cycled from the drawn values."""
    pools, tenants = b["pools"], b["tenants"]
    keys = [(t, tier) for t in tenants for tier in ("standard", "é-tier")]
    per_hour = len(pools) * len(keys)
    hours = -(-(COPY_MIN_ROWS + 1) // per_hour) if b["big"] else 1
    n = hours * per_hour
    index = np.arange(n, dtype=np.int64)
    key = index % len(keys)

    def cycled(values: list[Any], dtype: Any, shift: int) -> Any:
        return np.array(values, dtype=dtype)[(index + shift) % len(values)]

    return {
        "interval_start": int(START.timestamp()) + 3600 * (index // per_hour),
        "pool": Names(index // len(keys) % len(pools), pools),
        "tenant": Names(key, [t for t, _tier in keys]),
        "tier": Names(key, [tier for _t, tier in keys]),
        **{c: cycled(b["int8"], np.int64, i) for i, c in enumerate(INTS)},
        **{c: cycled(b["floats"], np.float64, i) for i, c in enumerate(FLOATS)},
        "estimated": index % 3 == 0,
        "covered_seconds": cycled(b["int4"], np.int64, 0),
        "cluster": "columns",
    }, n


def _stored(factory: sessionmaker[Session], cluster: str) -> list[tuple[Any, ...]]:
    names = [c.name for c in TABLE.columns if c.name != "cluster"]
    with factory() as session:
        query = select(*(TABLE.c[n] for n in names)).where(TABLE.c.cluster == cluster)
        found = session.execute(query.order_by(*TABLE.primary_key))
        # floats by their bits: -0.0 and 0.0 differ, as two stored figures would
        return [tuple(struct.pack(">d", v) if isinstance(v, float) else v for v in row) for row in found]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=batch)
def test_columns_write_what_dicts_write(db_factory: sessionmaker[Session], b: dict[str, Any]) -> None:
    columns, n = _columns(b)
    dicts = column_dicts(TABLE, {**columns, "cluster": "dicts"}, n)
    with db_factory() as session:
        assert replace_window_columns(session, AttributedCost, START, END, columns, n, cluster="columns") == n
        replace_window(session, AttributedCost, START, END, dicts, cluster="dicts")
        session.commit()
    stored = _stored(db_factory, "columns")
    assert len(stored) == n
    assert stored == _stored(db_factory, "dicts")


def test_a_rerun_replaces_its_clusters_window_only(db_factory: sessionmaker[Session]) -> None:
    b = {"pools": ["p"], "tenants": ["a", "b"], "int8": [1, 2], "int4": [60], "floats": [0.5], "big": True}
    columns, n = _columns(b)
    again = {**columns, "requests": columns["requests"] + 7}
    with db_factory() as session:
        other = column_dicts(TABLE, {**columns, "cluster": "other"}, n)
        replace_window(session, AttributedCost, START, END, other, cluster="other")
        replace_window_columns(session, AttributedCost, START, END, columns, n, cluster="columns")
        replace_window_columns(session, AttributedCost, START, END, again, n, cluster="columns")
        session.commit()
    assert _stored(db_factory, "other") != _stored(db_factory, "columns")
    requests = [c.name for c in TABLE.columns if c.name != "cluster"].index("requests")
    assert [r[requests] for r in _stored(db_factory, "columns")] == [
        r[requests] + 7 for r in _stored(db_factory, "other")
    ]


def test_the_stream_is_postgres_binary_copy() -> None:
    """The bytes of one row, field by field, as the COPY format lays them out."""
    data = binary_copy_data(
        ["timestamptz", "text", "int8", "int4", "float8", "bool", "text"],
        [
            np.array([946_684_801]),
            Names(np.array([1]), ["", "ab"]),
            np.array([-2]),
            np.array([7]),
            np.array([-0.0]),
            np.array([True]),
            "",
        ],
        1,
    )
    fields = (
        struct.pack(">hiq", 7, 8, 1_000_000)
        + struct.pack(">i", 2)
        + b"ab"
        + struct.pack(">iq", 8, -2)
        + struct.pack(">ii", 4, 7)
        + struct.pack(">id", 8, -0.0)
        + struct.pack(">i?", 1, True)
        + struct.pack(">i", 0)
    )
    assert data == b"PGCOPY\n\xff\r\n\x00" + bytes(8) + fields + b"\xff\xff"


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="int4"):
        binary_copy_data(["int4"], [np.array([2**31])], 1)
    with pytest.raises(TypeError):
        binary_copy_data(["int8"], [np.array([0.5])], 1)
    with pytest.raises(TypeError):
        binary_copy_data(["bool"], [np.array([1])], 1)
    with pytest.raises(TypeError):  # truncated to 1 before
        binary_copy_data(["int4"], [np.array([1.9])], 1)
    with pytest.raises(TypeError):  # 2**53 + 1 would round to an even float
        binary_copy_data(["float8"], [np.array([2**53 + 1])], 1)


@given(
    names=st.lists(name, min_size=1, max_size=4),
    codes=st.lists(st.integers(0, 3), max_size=30),
    chunk_rows=st.integers(1, 8),
)
def test_chunks_make_the_whole_stream(names: list[str], codes: list[int], chunk_rows: int) -> None:
    """Streamed in pieces or built whole, the bytes are the same: the server parses one stream."""
    n = len(codes)
    columns = [
        Names(np.array(codes, dtype=np.int64) % len(names), names),
        np.arange(n, dtype=np.int64),
        "one",
        np.arange(n) % 2 == 0,
    ]
    types = ["text", "int8", "text", "bool"]
    whole = binary_copy_data(types, columns, n)
    assert b"".join(binary_copy_chunks(types, columns, n, chunk_rows)) == whole
    text_bytes = sum(len(names[c % len(names)].encode()) for c in codes)
    assert len(whole) == 21 + n * (2 + 4 * 4 + 8 + 3 + 1) + text_bytes  # header+trailer, then per row


USAGE_TABLE = TenantUsage.__table__
EXAMPLES = itertools.count()
usage = st.fixed_dictionaries(
    {
        "tenants": st.lists(name, min_size=1, max_size=4, unique=True),
        "ints": st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8),
        "floats": st.lists(finite, min_size=1, max_size=8),
        "big": st.booleans(),
        "again": st.booleans(),
    }
)


def _usage_columns(b: dict[str, Any], cluster: str) -> tuple[dict[str, Any], int]:
    """``tenant_usage`` columns in key order (interval, pool, tenant, tier), as the gateway builds them."""
    tenants = sorted(b["tenants"])
    per_interval = len(tenants) * 2
    intervals = -(-(COPY_MIN_ROWS + 1) // per_interval) if b["big"] else 1
    n = intervals * per_interval
    index = np.arange(n, dtype=np.int64)

    def cycled(values: list[Any], dtype: Any, shift: int) -> Any:
        return np.array(values, dtype=dtype)[(index + shift) % len(values)]

    return {
        "interval_start": int(START.timestamp()) + 60 * (index // per_interval),
        "pool": "p",
        "tenant": Names(index % per_interval // 2, tenants),
        "tier": Names(index % 2, ["0-4k", "4k-32k"]),
        "requests": cycled(b["ints"], np.int64, 0),
        "prompt_tokens": cycled(b["ints"], np.int64, 1),
        "generation_tokens": cycled(b["ints"], np.int64, 2),
        "kv_token_seconds": cycled(b["floats"], np.float64, 0),
        "cluster": cluster,
    }, n


def _stored_usage(factory: sessionmaker[Session], cluster: str) -> list[tuple[Any, ...]]:
    names = [c.name for c in USAGE_TABLE.columns if c.name != "cluster"]
    with factory() as session:
        query = select(*(USAGE_TABLE.c[n] for n in names)).where(USAGE_TABLE.c.cluster == cluster)
        found = session.execute(query.order_by(*USAGE_TABLE.primary_key))
        return [tuple(struct.pack(">d", v) if isinstance(v, float) else v for v in row) for row in found]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=usage)
def test_upserted_columns_are_the_upserted_dicts(
    db_factory: sessionmaker[Session], b: dict[str, Any]
) -> None:
    """``upsert_columns`` (the gateway's write) stores what ``bulk_upsert`` of the same rows as dicts
    stores, first time or over stored rows (``again``: every key already there, the COPY meets a stored key
    and the dicts are upserted, the new values winning)."""
    ours, theirs = f"columns-{next(EXAMPLES)}", f"dicts-{next(EXAMPLES)}"  # the database outlives an example
    columns, n = _usage_columns(b, ours)
    with db_factory() as session:
        if b["again"]:
            stale = {
                **columns,
                "requests": columns["requests"] + 1,
                "kv_token_seconds": columns["kv_token_seconds"] * 0,
            }
            upsert_columns(session, TenantUsage, stale, n)
        assert upsert_columns(session, TenantUsage, columns, n) == n
        bulk_upsert(session, TenantUsage, column_dicts(USAGE_TABLE, {**columns, "cluster": theirs}, n))
        session.commit()
    stored = _stored_usage(db_factory, ours)
    assert len(stored) == n
    assert stored == _stored_usage(db_factory, theirs)


GPU_TABLE = GpuSample.__table__
nullable = st.fixed_dictionaries(
    {
        "names": st.lists(name, min_size=1, max_size=3, unique=True),
        "ints": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8),
        "floats": st.lists(st.none() | finite, min_size=1, max_size=8),
        "big": st.booleans(),
    }
)


def _gpu_columns(b: dict[str, Any], cluster: str) -> tuple[dict[str, Any], int]:
    """``gpu_samples`` columns in key order with NULLs (``Nulls``) cycled from the drawn values."""
    names: list[str] = b["names"]
    per_interval = len(names)
    intervals = -(-(COPY_MIN_ROWS + 1) // per_interval) if b["big"] else 1
    n = intervals * per_interval
    index = np.arange(n, dtype=np.int64)

    def cycled(values: list[Any], dtype: Any, shift: int) -> Nulls:
        at = (index + shift) % len(values)
        null = np.array([v is None for v in values])[at]
        return Nulls(np.array([0 if v is None else v for v in values], dtype=dtype)[at], null)

    def text(shift: int) -> Nulls:
        return Nulls(Names(index % per_interval, sorted(names)), (index + shift) % 3 == 0)

    return {
        "interval_start": int(START.timestamp()) + 60 * (index // per_interval),
        "gpu_uuid": Names(index % per_interval, sorted(names)),
        "part": "",
        "hostname": Names((index + 1) % per_interval, names),
        "gpu_model_name": "NVIDIA H100 80GB HBM3",
        "gpu_type": text(0),
        "pool": text(1),
        "problem": Nulls(Names(np.zeros(n, dtype=np.int64), []), np.ones(n, dtype=bool)),
        **{c: cycled(b["ints"], np.int64, i) for i, c in enumerate(GPU_INTS)},
        "gpu_util_percent": cycled(b["floats"], np.float64, 0),
        "cluster": cluster,
    }, n


GPU_INTS = ("fb_used_bytes", "fb_free_bytes", "fb_reserved_bytes", "gpu_share_ppm", "power_milliwatts")


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=nullable)
def test_columns_with_nulls_are_the_dicts_with_none(
    db_factory: sessionmaker[Session], b: dict[str, Any]
) -> None:
    """A column with NULLs (``Nulls``: binary COPY's length -1) stores what the dicts' None stores, every
    other field of the row in place, whatever its neighbours' lengths."""
    ours, theirs = f"nulls-{next(EXAMPLES)}", f"none-{next(EXAMPLES)}"
    columns, n = _gpu_columns(b, ours)
    dicts = column_dicts(GPU_TABLE, {**columns, "cluster": theirs}, n)
    assert any(v is None for v in dicts[0].values())
    with db_factory() as session:
        assert upsert_columns(session, GpuSample, columns, n) == n
        bulk_upsert(session, GpuSample, dicts)
        session.commit()
    with db_factory() as session:
        stored = {}
        for cluster in (ours, theirs):
            query = select(GPU_TABLE).where(GPU_TABLE.c.cluster == cluster).order_by(*GPU_TABLE.primary_key)
            stored[cluster] = [
                tuple(struct.pack(">d", v) if isinstance(v, float) else v for v in row[:-1])
                for row in session.execute(query)
            ]
    assert len(stored[ours]) == n
    assert stored[ours] == stored[theirs]
