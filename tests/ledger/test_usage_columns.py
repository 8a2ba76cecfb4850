"""The columnar usage reader gives the attribution job exactly the inputs the row reader gave it.

A simulated day on Postgres: two hours of the demo cluster collected from a real Prometheus, copied
forward (shifted, as bench_attribute.py fills its month) to a day. Postgres' ``array_agg``/``array_send``
columns must equal the rows read one by one, value for value and bit for bit (token-seconds), over
windows that cross the reader's slices; and the pool-intervals the job builds from them must equal those
the row path built, usage included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.incidents import CONTEXT_INTERVALS
from attribution.ledger.inputs import build_inputs, group_telemetry
from attribution.model.incidents import (
    ENGINE_ABSENT,
    KV_CAPACITY_ZERO,
    RELOADING,
)
from attribution.model.vectorized_usage import UsageColumns, with_usage
from attribution.store.columns import SLICE_SECONDS, usage_columns, usage_columns_from_rows
from attribution.store.expressions import epoch
from attribution.store.gpu_columns import gpu_count_columns
from attribution.store.incidents import detection_inputs
from attribution.store.inputs import kv_samples, tenant_usage
from attribution.store.tables import GpuSample, KvSample, TenantUsage
from tests.support.incidents import job_and_reference
from tests.support.simulated import END, START, sim_prometheus, simulated
from tests.support.simulated_db import simulated_db

__all__ = ["sim_prometheus", "simulated", "simulated_db"]

DAY_END = START + timedelta(days=1)
TABLES = ("gpu_samples", "kv_samples", "tenant_usage")


@pytest.fixture(scope="module")
def simulated_day(
    simulated_db: tuple[Settings, sessionmaker[Session]],
) -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """The simulated hours copied forward until the day is full."""
    settings, factory = simulated_db
    span = int((END - START).total_seconds())
    with factory.begin() as session:
        for table in TABLES:
            columns = [
                row[0]
                for row in session.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                    {"t": table},
                )
            ]
            shifted = ", ".join(
                f"{c} + make_interval(secs => :shift)" if c in ("interval_start", "collected_at") else c
                for c in columns
            )
            for shift in range(span, 86_400, span):
                session.execute(
                    text(
                        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {shifted} FROM {table} "
                        "WHERE interval_start >= :start AND interval_start < :end"
                    ),
                    {"shift": shift, "start": START, "end": END},
                )
    yield settings.model_copy(update={"max_window_days": 2}), factory


def _assert_same(actual: UsageColumns, expected: UsageColumns) -> None:
    assert actual.pools == expected.pools
    assert actual.keys == expected.keys
    for name in ("interval_start_s", "pool", "key", "requests", "prompt_tokens", "generation_tokens"):
        assert getattr(actual, name).dtype == np.int64
        assert np.array_equal(getattr(actual, name), getattr(expected, name)), name
    # bit for bit: the same floats, not merely close ones
    assert np.array_equal(actual.kv_token_seconds.view(np.int64), expected.kv_token_seconds.view(np.int64))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, DAY_END),
        (START + timedelta(minutes=90), START + timedelta(hours=20, minutes=15)),
        (START + timedelta(seconds=SLICE_SECONDS - 60), START + timedelta(seconds=SLICE_SECONDS + 60)),
    ],
)
def test_the_columns_are_the_rows(
    simulated_day: tuple[Settings, sessionmaker[Session]], start: datetime, end: datetime
) -> None:
    _, factory = simulated_day
    with factory() as session:
        rows = tenant_usage(session, start, end)
        columns = usage_columns(session, start, end)
    expected = usage_columns_from_rows(rows)
    assert len(columns) == len(rows) > 0
    _assert_same(columns, expected)


def test_the_job_builds_the_same_pool_intervals(
    simulated_day: tuple[Settings, sessionmaker[Session]],
) -> None:
    settings, factory = simulated_day
    with factory() as session:
        gpus, kv = gpu_count_columns(session, START, DAY_END), kv_samples(session, START, DAY_END)
        by_rows = build_inputs(
            settings, START, DAY_END, group_telemetry(gpus, tenant_usage(session, START, DAY_END)), kv
        )
        bare = build_inputs(settings, START, DAY_END, group_telemetry(gpus), kv)
        columns = usage_columns(session, START, DAY_END)
    assert all(not p.usage for p in bare.pool_intervals)
    assert sum(len(p.usage) for p in by_rows.pool_intervals) > 0
    assert with_usage(bare.pool_intervals, columns) == by_rows.pool_intervals
    assert bare.cluster_intervals == by_rows.cluster_intervals
    assert bare.cluster_cost_rows == by_rows.cluster_cost_rows


def test_incident_inputs_grouped_by_postgres_are_the_rows_grouped_here(
    simulated_day: tuple[Settings, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """detection_inputs groups GPUs per pool-interval in SQL, and flags the pool-intervals with gateway
    KV token-seconds by a subquery; grouping the rows in Python gives the same, and so does its row path
    (the one SQLite takes), run here on the same Postgres rows."""
    _, factory = simulated_day
    with factory() as session:  # never committed: the usage deleted below is back for the other tests
        u = TenantUsage
        some_pool = session.execute(select(u.pool).limit(1)).scalar_one()
        # an hour of one pool without gateway usage, so unserved pool-intervals are compared too
        session.execute(delete(u).where(u.pool == some_pool, u.interval_start < START + timedelta(hours=1)))
        found = detection_inputs(session, START, DAY_END)
        with monkeypatch.context() as patched:
            patched.setattr("attribution.store.incidents.is_postgres", lambda _: False)
            by_row_path = detection_inputs(session, START, DAY_END)
        served = session.execute(
            select(epoch(u.interval_start), u.pool).where(
                u.interval_start >= START, u.interval_start < DAY_END, u.kv_token_seconds > 0
            )
        ).all()
        rows = session.execute(
            select(
                epoch(GpuSample.interval_start), GpuSample.pool, GpuSample.gpu_uuid, GpuSample.fb_used_bytes
            )
            .where(GpuSample.pool.is_not(None), GpuSample.interval_start >= START)
            .where(GpuSample.interval_start < DAY_END)
        ).all()
    gpus: dict[tuple[int, str], set[str]] = {}
    fb: dict[tuple[int, str], list[int]] = {}
    for at, pool, uuid, used in rows:
        gpus.setdefault((at, pool), set()).add(uuid)
        if used is not None:
            fb.setdefault((at, pool), []).append(used)
    serving = {(int(at), pool) for at, pool in served}
    assert [(p.start_s, p.pool) for p in found] == sorted(gpus)
    for p in found:
        used = fb.get((p.start_s, p.pool))
        assert p.gpus == tuple(sorted(gpus[(p.start_s, p.pool)]))
        assert p.fb_used_bytes == (sum(used) / len(used) if used else None)
        assert p.serving == ((p.start_s, p.pool) in serving)
    assert any(len(p.gpus) > 1 for p in found)
    assert {p.serving for p in found} == {True, False}  # both kinds of pool-interval are compared
    assert by_row_path == found


def _break_engines(session: Session, pools: list[str], settings: Settings) -> None:
    """Incidents on the simulated day (never committed): the first pool's engine absent for 5 intervals
    and reloading (framebuffer at a tenth) for 2, then the same across noon, its absence before noon;
    the second pool's KV capacity zero for 3 intervals, where its GPUs lost their type (out of the
    catalog: detection counts them all the same). No gateway usage of the pools broken in those hours."""
    step = timedelta(seconds=settings.interval_seconds)
    first, second = pools[0], pools[1]
    for at in (START + timedelta(hours=2), START + timedelta(hours=12) - 3 * step):
        span = {"pool": first, "start": at, "end": at + 5 * step, "filled": at + 7 * step}
        session.execute(
            text(
                "DELETE FROM kv_samples WHERE pool = :pool "
                "AND interval_start >= :start AND interval_start < :end"
            ),
            span,
        )
        session.execute(
            text(
                "UPDATE gpu_samples SET fb_used_bytes = fb_used_bytes / 10 WHERE pool = :pool "
                "AND interval_start >= :end AND interval_start < :filled"
            ),
            span,
        )
    zero = {"pool": second, "start": START + timedelta(hours=5), "end": START + timedelta(hours=5) + 3 * step}
    where = "pool = :pool AND interval_start >= :start AND interval_start < :end"
    session.execute(text(f"UPDATE kv_samples SET kv_capacity_tokens = 0 WHERE {where}"), zero)
    session.execute(text(f"UPDATE gpu_samples SET gpu_type = NULL WHERE {where}"), zero)
    # hour 20: the first pool's engines silent throughout (watched: sampled in the week before), and a
    # pool with GPUs whose engines were never sampled (not watched: never an incident)
    hour = {"pool": first, "start": START + timedelta(hours=20), "end": START + timedelta(hours=21)}
    # and in the context before it, so that only the week before tells it is watched
    silent = {**hour, "start": START + timedelta(hours=20) - CONTEXT_INTERVALS * step}
    session.execute(text(f"DELETE FROM kv_samples WHERE {where}"), silent)
    columns = [
        c
        for (c,) in session.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = 'gpu_samples'")
        )
    ]
    copied = ", ".join({"pool": "'unwatched'", "gpu_uuid": "gpu_uuid || '-u'"}.get(c, c) for c in columns)
    session.execute(
        text(
            f"INSERT INTO gpu_samples ({', '.join(columns)}) SELECT {copied} FROM gpu_samples WHERE {where}"
        ),
        hour,
    )
    for hour_of_day in (2, 5, 11, 12, 19, 20):
        session.execute(
            text(
                "DELETE FROM tenant_usage WHERE pool IN (:a, :b) AND interval_start >= :start "
                "AND interval_start < :end"
            ),
            {
                "a": first,
                "b": second,
                "start": START + timedelta(hours=hour_of_day),
                "end": START + timedelta(hours=hour_of_day + 1),
            },
        )


@pytest.mark.parametrize("postgres_usage", [True, False])
def test_incidents_from_the_jobs_reads_are_those_of_the_detection_inputs(
    simulated_day: tuple[Settings, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
    postgres_usage: bool,
) -> None:
    """find_incidents over the job's own reads (and the same readers over the context) finds what the
    object detector found over ``detection_inputs`` (its own scan of the samples): the same parts, causes
    and GPUs, over a day and over an hour whose incident began before it."""
    settings, factory = simulated_day
    if not postgres_usage:  # the usage reader's row path, the one SQLite takes
        monkeypatch.setattr("attribution.store.columns.is_postgres", lambda _: False)
    with factory() as session:  # never committed
        pools = sorted(session.execute(select(KvSample.pool).distinct()).scalars())
        _break_engines(session, pools, settings)
        found = []
        windows = [(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in (12, 20)]
        for start, end in [(START, DAY_END), *windows]:
            got, expected = job_and_reference(session, settings, start, end)
            assert got == expected
            found.append(got)
    day, noon, evening = found
    assert [i.pool for i in evening] == [pools[0]] and evening[0].causes == (ENGINE_ABSENT,)
    assert {c for i in day for c in i.causes} == {ENGINE_ABSENT, KV_CAPACITY_ZERO, RELOADING}
    assert noon[0].start_s == int((START + timedelta(hours=12)).timestamp()) and RELOADING in noon[0].causes
    assert all(i.gpus for i in day)
