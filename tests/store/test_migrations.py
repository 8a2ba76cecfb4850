"""Migrations run on Postgres and SQLite, and the tables in code never drift from them."""

from __future__ import annotations

from sqlalchemy import inspect

from attribution.store.migrate import check
from attribution.store.session import make_engine
from attribution.store.tables import Base


def test_alembic_check_is_clean_on_postgres(pg_url: str) -> None:
    check(pg_url)  # raises when models and migrations disagree


def test_alembic_check_is_clean_on_sqlite(sqlite_url: str) -> None:
    check(sqlite_url)


def test_every_table_exists_after_upgrade(pg_url: str, sqlite_url: str) -> None:
    for url in (pg_url, sqlite_url):
        engine = make_engine(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
