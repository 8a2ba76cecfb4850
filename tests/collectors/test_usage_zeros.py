"""A gateway cell seen with nothing to store (a tenant's series scraped in an interval it did not move) is
coverage, not a ``tenant_usage`` row; a re-collection that finds a stored row's cell at zero deletes it.

Before, such cells were rows of zeros: two fifths of the gateway's rows at 50 tenants on 64 GPUs, written
and read again for nothing (no split weighs them: KV token-seconds must be above zero). Leaving them out
must change no coverage (a flat interval is seen, not missing) and no stored answer of a re-collection
(a row that went to zero was overwritten with zeros; now it is deleted).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.batch import Batch
from attribution.collectors.profiles import plans
from attribution.collectors.prom import utc_from_seconds
from attribution.collectors.run import write
from attribution.collectors.usage_sums import USAGE, split_zeros, usage_rows
from attribution.config import CollectorName, load_settings
from attribution.store.collection_state import SourceCoverage
from attribution.store.column_copy import column_dicts
from attribution.store.expressions import table_of
from attribution.store.session import unit_of_work
from attribution.store.tables import TenantUsage
from tests.builders import T0

STEP = 60
FIRST = int(T0.timestamp())
GROUPS = [("chat", "acme", "0-4k"), ("chat", "beta", "0-4k")]
SETTINGS = load_settings(
    database_url="sqlite://",
    inventory={"H100-SXM": 2},
    gpu_prices=[{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "3.60"}],
    sources=[{"name": "gw", "url": "http://127.0.0.1:9", "profiles": ["native"]}],
)


def _oracle(
    cells: dict[str, list[tuple[int, float]]], groups: list[tuple[str, str, str]], intervals: int
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str, str]], Counter[int]]:
    """Rows, zero keys and cells seen per interval, summed one increase at a time in plain Python."""
    sums: dict[int, dict[str, float]] = {}
    for signal in USAGE:
        for cell, increase in cells.get(signal, []):
            by_signal = sums.setdefault(cell, {})
            by_signal[signal] = by_signal.get(signal, 0.0) + increase
    rows, zeros, seen = [], [], Counter[int]()
    for cell, by_signal in sums.items():
        g, k = divmod(cell, intervals)
        start = FIRST + k * STEP
        stored = {
            s: by_signal.get(s, 0.0) if s == "kv_token_seconds" else round(by_signal.get(s, 0.0))
            for s in USAGE
        }
        key = (start, *groups[g])
        seen[start] += 1
        if any(v != 0 for v in stored.values()):
            rows.append(dict(zip(("interval_start", "pool", "tenant", "tier"), key, strict=True)) | stored)
        else:
            zeros.append(key)
    rows.sort(key=lambda r: (r["interval_start"], r["pool"], r["tenant"], r["tier"]))
    return rows, sorted(zeros), seen


names = st.sampled_from(["a", "b", "ü", ""])
increases = st.sampled_from([0.0, 0.0, 0.4, 0.5, 1.5, 3.0, 5e-324, 1e6])


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.tuples(names, names, names), min_size=1, max_size=4, unique=True),
    intervals=st.integers(1, 4),
    data=st.data(),
)
def test_rows_are_the_seen_cells_with_a_value_and_zeros_the_rest(
    groups: list[tuple[str, str, str]], intervals: int, data: st.DataObject
) -> None:
    size = len(groups) * intervals
    entry = st.tuples(st.integers(0, size - 1), increases)
    cells = {s: data.draw(st.lists(entry, max_size=8)) for s in data.draw(st.sets(st.sampled_from(USAGE)))}
    given_cells = {
        s: (np.array([c for c, _ in e], dtype=np.int64), np.array([v for _, v in e], dtype=np.float64))
        for s, e in cells.items()
    }
    found = usage_rows(given_cells, groups, FIRST, STEP, intervals)
    rows, zeros, seen = _oracle(cells, groups, intervals)
    table = table_of(TenantUsage)
    got = column_dicts(table, found.rows.columns, found.rows.rows)
    assert [{**r, "interval_start": int(r["interval_start"].timestamp())} for r in got] == rows
    assert sorted(zip(*found.zeros.usage_keys(), strict=True)) == zeros
    assert found.seen_per_interval() == {utc_from_seconds(t): n for t, n in seen.items()}
    # the dicts' path (profiles that estimate) cuts its rows the same way
    flat = [
        {"interval_start": utc_from_seconds(k[0]), "pool": k[1], "tenant": k[2], "tier": k[3]}
        | dict.fromkeys(USAGE, 0)
        for k in zeros
    ]
    every = [*got, *flat]
    kept, dropped = split_zeros(every)
    assert kept == got
    assert sorted(zip(*dropped.usage_keys(), strict=True)) == zeros


def _batch(requests: dict[tuple[int, int], float], intervals: int = 2) -> Batch:
    """The gateway's batch when group ``g``'s requests counter grew by ``requests[(g, k)]`` in interval
    ``k`` (a key present with 0.0: scraped, flat), as ``_collect_columns`` builds it."""
    where = np.array([g * intervals + k for g, k in requests], dtype=np.int64)
    found = usage_rows(
        {"requests": (where, np.array(list(requests.values())))}, GROUPS, FIRST, STEP, intervals
    )
    batch = Batch(TenantUsage, [])
    batch.columns, batch.zeros = found.rows, found.zeros
    batch.series.update(found.seen_per_interval())
    return batch


def _collect(factory: sessionmaker[Session], batch: Batch, intervals: int = 2) -> None:
    plan = next(p for p in plans(SETTINGS) if p.collector is CollectorName.GATEWAY)
    with unit_of_work(factory) as session:
        write(session, SETTINGS, plan, batch, (T0, T0 + timedelta(seconds=STEP * intervals)), "backfill")


def _stored(factory: sessionmaker[Session]) -> set[tuple[int, str, str, int]]:
    """(minute, tenant, cluster, requests) of every stored usage row."""
    with factory() as session:
        rows = session.scalars(select(TenantUsage)).all()
    return {
        (int((r.interval_start - T0).total_seconds()) // STEP, r.tenant, r.cluster, r.requests) for r in rows
    }


def _coverage(factory: sessionmaker[Session]) -> list[tuple[str, int, int]]:
    """(status, series, rows) of the gateway's coverage, minute by minute."""
    sc = SourceCoverage
    with factory() as session:
        found = session.execute(
            select(sc.status, sc.series, sc.rows).where(sc.collector == "gateway").order_by(sc.interval_start)
        ).all()
    return [(str(s), int(n), int(r)) for s, n, r in found]


def test_a_flat_cell_is_seen_but_not_stored(db_factory: sessionmaker[Session]) -> None:
    _collect(db_factory, _batch({(0, 0): 5.0, (1, 0): 3.0, (0, 1): 5.0, (1, 1): 0.0}))
    assert _stored(db_factory) == {
        (0, "acme", "default", 5),
        (0, "beta", "default", 3),
        (1, "acme", "default", 5),
    }
    assert _coverage(db_factory) == [("present", 2, 2), ("present", 2, 1)]


def test_an_interval_of_flat_series_is_present_not_missing(db_factory: sessionmaker[Session]) -> None:
    """Every tenant scraped and none moved: the gateway was up, so the interval is covered (the engine's
    work there, if any, is a gap the split finds from the KV readings, as before)."""
    _collect(db_factory, _batch({(0, 0): 0.0, (1, 0): 0.0, (0, 1): 1.0}))
    assert _stored(db_factory) == {(1, "acme", "default", 1)}
    assert _coverage(db_factory) == [("present", 2, 0), ("present", 1, 1)]


def test_a_recollection_deletes_a_row_whose_cell_is_now_flat(db_factory: sessionmaker[Session]) -> None:
    """The first read saw acme's requests in minute 0; the second sees its counter flat there (a
    corrected history): the old row must not stay. Another cluster's row of the same key, and cells the
    second read did not see at all, are left alone, as an upsert leaves them."""
    _collect(db_factory, _batch({(0, 0): 5.0, (1, 0): 3.0, (0, 1): 5.0, (1, 1): 2.0}))
    other = {"interval_start": T0, "pool": "chat", "tenant": "acme", "tier": "0-4k", "requests": 9}
    other |= {"prompt_tokens": 0, "generation_tokens": 0, "kv_token_seconds": 1.0, "cluster": "other"}
    with unit_of_work(db_factory) as session:
        session.add(TenantUsage(**other))
    _collect(db_factory, _batch({(0, 0): 0.0, (1, 0): 3.0, (0, 1): 5.0}))
    assert _stored(db_factory) == {
        (0, "acme", "other", 9),
        (0, "beta", "default", 3),
        (1, "acme", "default", 5),
        (1, "beta", "default", 2),  # not seen by the second read: kept, as an upsert keeps it
    }
    assert _coverage(db_factory) == [("present", 2, 1), ("present", 1, 1)]


def test_a_recollection_clears_many_keys_at_once(db_factory: sessionmaker[Session]) -> None:
    """Past the COPY threshold (500 rows) on Postgres: a window of 300 intervals read again flat for
    acme deletes its 300 rows in one statement and keeps beta's."""
    n = 300
    _collect(db_factory, _batch({(g, k): 1.0 for g in (0, 1) for k in range(n)}, n), n)
    _collect(db_factory, _batch({(g, k): float(g) for g in (0, 1) for k in range(n)}, n), n)
    stored = _stored(db_factory)
    assert {tenant for _, tenant, _, _ in stored} == {"beta"} and len(stored) == n
    assert set(_coverage(db_factory)) == {("present", 2, 1)}


def test_two_writers_of_one_window_with_different_readings_do_not_deadlock(
    pg_factory: sessionmaker[Session],
) -> None:
    """A backfill beside the scheduler, reading one window differently: one finds acme flat and beta
    busy, the other the reverse. Each deletes its flat cell, then upserts its busy one: two statements
    over different keys. Both pause after their DELETE until the other has run its own (or 3 s have
    passed); without the lock of the whole span first, each then waits for the row the other deleted or
    holds, and Postgres aborts one. With it, the second waits at its lock, and the window ends as one
    reading or the other, never a mix."""
    _collect(pg_factory, _batch({(0, 0): 5.0, (1, 0): 3.0}, 1), 1)
    engine = pg_factory.kw["bind"]
    barrier = threading.Barrier(2)

    def pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM tenant_usage"):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=3)

    readings = {"a": {(0, 0): 0.0, (1, 0): 4.0}, "b": {(0, 0): 6.0, (1, 0): 0.0}}
    errors: list[BaseException] = []

    def collect(name: str) -> None:
        try:
            _collect(pg_factory, _batch(readings[name], 1), 1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    event.listen(engine, "after_cursor_execute", pause)
    try:
        threads = [threading.Thread(target=collect, args=(name,)) for name in readings]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        event.remove(engine, "after_cursor_execute", pause)
    assert errors == []
    assert _stored(pg_factory) in ({(0, "beta", "default", 4)}, {(0, "acme", "default", 6)})
