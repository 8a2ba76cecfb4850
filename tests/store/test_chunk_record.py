"""A chunk's coverage, coverage summary and log line: Postgres' one-round-trip statements
(:mod:`attribution.store.chunk_record`) leave the very rows the general upsert leaves on SQLite, for
any sequence of chunks: sources that share a collector (the summary sums them), clusters apart,
windows written again with other statuses (the upsert overwrites), and statuses of every kind."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from attribution.store.collection_state import CollectionLog, CoverageStatus, SourceCoverage, record_chunk
from attribution.store.expressions import table_of
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import Coverage
from tests.support.database import migrated_copy, rolled_back

START = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 60
AT = datetime(2026, 11, 3, 12, tzinfo=UTC)

chunk = st.fixed_dictionaries(
    {
        "collector": st.sampled_from(["gpu", "gateway"]),
        "source": st.sampled_from(["prometheus", "victoria"]),
        "cluster": st.sampled_from(["default", "west"]),
        "first": st.integers(0, 6),
        "statuses": st.lists(st.sampled_from([s.value for s in CoverageStatus]), min_size=0, max_size=5),
        "seed": st.integers(0, 1000),
    }
)


def _record(session: Session, c: dict[str, Any], n: int) -> None:
    count = len(c["statuses"])
    start = START + timedelta(seconds=STEP * c["first"])
    keys = {"collector": c["collector"], "source": c["source"], "cluster": c["cluster"]}
    coverage = {**keys, "start": start, "step_seconds": STEP, "collected_at": AT + timedelta(seconds=n),
                "statuses": c["statuses"], "series": [(c["seed"] * (i + 3)) % 97 for i in range(count)],
                "rows": [(c["seed"] + i) % 13 for i in range(count)]}  # fmt: skip
    log = {**keys, "window_start": start, "window_end": start + timedelta(seconds=STEP * count),
           "rows": c["seed"], "mode": "backfill", "replica": "host:1", "committed_at": AT}  # fmt: skip
    record_chunk(session, coverage, log)


def _tables(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for model in (SourceCoverage, Coverage, CollectionLog):
        table = table_of(model)
        columns = [c for c in table.columns if c.name != "id"]
        rows = session.execute(select(*columns)).all()
        out[table.name] = sorted(
            tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in r) for r in rows
        )
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(chunk, min_size=1, max_size=6))
def test_postgres_and_the_general_upsert_leave_the_same_rows(
    chunks: list[dict[str, Any]], pg_engine: Engine, sqlite_template: Path
) -> None:
    with rolled_back(pg_engine) as factory:
        for n, c in enumerate(chunks):
            with unit_of_work(factory) as session:
                _record(session, c, n)
        with factory() as session:
            on_postgres = _tables(session)
    with tempfile.TemporaryDirectory() as work:
        engine = make_engine(migrated_copy(sqlite_template, Path(work) / "a.db"))
        try:
            factory = make_sessionmaker(engine)
            for n, c in enumerate(chunks):
                with unit_of_work(factory) as session:
                    _record(session, c, n)
            with factory() as session:
                on_sqlite = _tables(session)
        finally:
            engine.dispose()
    assert on_postgres == on_sqlite
    assert len(on_postgres["collection_log"]) == len(chunks)  # a line per chunk, whatever it covered
