"""Migration ``20261204views`` backfills ``daily_line_sums.estimated_usd_micros`` from the lines and
recreates the analyst views over the rollups; its downgrade puts the views back over the lines (on a
database of its own, since it migrates down and up)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.migrate import alembic_config, upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import DailyLineSum
from tests.support.api import stored_line
from tests.support.lines import insert_lines
from tests.support.postgres import fresh_database

DAY = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'views.db'}"
        return
    with fresh_database(request.getfixturevalue("pg_server")) as found:
        yield found


def test_the_migration_backfills_the_estimated_share_and_keeps_the_views(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    rows = []
    for hour, (tenant, estimated, micros) in enumerate(
        [("acme", True, 700), ("acme", False, 300), ("acme", True, 11), ("globex", False, 5)]
    ):
        row = {**stored_line(tenant, "0-4k", micros), "interval_start": DAY + timedelta(hours=hour)}
        rows.append({**row, "estimated": estimated})
    with unit_of_work(factory) as session:
        insert_lines(session, rows)
    written = _state(factory)
    assert written[0] == [("acme", 711), ("globex", 0)]  # the job's (refresh_rollups') own figures
    engine.dispose()
    command.downgrade(alembic_config(url), "20261204views-1")
    downgraded = make_engine(url)
    with downgraded.connect() as conn:  # the views read the lines again
        total = conn.execute(text("SELECT sum(total_usd_micros) FROM daily_tenant_costs")).scalar_one()
        assert total == 1016
    downgraded.dispose()
    upgrade(url)
    engine = make_engine(url)
    assert _state(make_sessionmaker(engine)) == written
    engine.dispose()


def _state(factory: sessionmaker[Session]) -> tuple[list[tuple[str, int]], list[tuple]]:
    with factory() as session:
        r = DailyLineSum
        found = session.execute(select(r.tenant, r.estimated_usd_micros).order_by(r.tenant))
        shares = [(str(t), int(v)) for t, v in found]
        views = [tuple(x) for x in session.execute(text("SELECT * FROM daily_tenant_costs ORDER BY tenant"))]
        return shares, views
