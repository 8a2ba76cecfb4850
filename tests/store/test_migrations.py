"""Migrations run on Postgres and SQLite, and the tables in code never drift from them."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from attribution.store.migrate import check
from attribution.store.tables import Base


def test_alembic_check_is_clean(engine: Engine) -> None:
    check(engine.url.render_as_string(hide_password=False))  # raises when models and migrations disagree


def test_every_table_exists_after_upgrade(engine: Engine) -> None:
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
