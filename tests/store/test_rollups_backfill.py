"""Migration ``20261203rollups`` backfills the rollups of lines written before it: the same rows the
attribution job writes (on a database of its own, since it migrates down and up)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.store.migrate import alembic_config, upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import DailyLineSum
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.postgres import fresh_database

START = datetime(2026, 11, 1, 6, tzinfo=UTC)
HOURS = 60  # a partial day, a whole one and a partial one


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'backfill.db'}"
        return
    with fresh_database(request.getfixturevalue("pg_server")) as found:
        yield found


def test_the_migration_backfills_what_the_job_writes(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    store(
        factory,
        create_gpu_rows(HOURS * 60, step_minutes=60, start=START),
        create_kv_rows(HOURS * 60, 0.2, step_minutes=60, start=START),
        [create_usage_row(h * 60, f"t{h % 3}", "0-4k", 1e6 + h, start=START) for h in range(HOURS)],
    )
    run_attribution(
        small_cluster_settings(interval_seconds=3600), factory, START, START + timedelta(hours=HOURS)
    )
    written = _rollups(factory)
    assert len({r[0] for r in written}) == 3  # three UTC days
    command.downgrade(alembic_config(url), "20261203rollups-1")
    engine.dispose()
    upgrade(url)
    assert _rollups(make_sessionmaker(make_engine(url))) == written


def _rollups(factory: sessionmaker[Session]) -> list[tuple]:
    with factory() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(*DailyLineSum.__table__.columns).order_by("day_start", "pool", "tenant", "tier")
            )
        ]
