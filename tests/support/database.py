"""Test databases: emptied between tests, or one transaction rolled back after each test.

Most tests need only their own writes, read back on the same connection: they take ``pg_tx``, a session
factory bound to one connection inside a transaction that is rolled back at teardown (SQLAlchemy 2's
"join an external transaction" recipe). Each ``commit()`` of the code under test then releases a savepoint
instead, so the code behaves as in production while nothing reaches another connection. Tests whose data
another connection or process must see (API servers in threads, scheduler replicas, concurrent runs, the
browser) keep ``pg_factory``, whose committed rows are emptied by ``truncate_all`` before and after.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.migrate import upgrade
from attribution.store.tables import Base


def truncate_all(engine: Engine) -> None:
    """Empty every table (and restart Postgres's sequences): committed data of a test leaves with it."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in Base.metadata.sorted_tables:
                conn.execute(table.delete())


@contextmanager
def rolled_back(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on one connection whose transaction is rolled back on exit.

    ``join_transaction_mode="create_savepoint"``: a session's commit or rollback ends a savepoint, never
    the outer transaction, so ``unit_of_work`` and the jobs run unchanged.
    """
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield sessionmaker(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
        finally:
            outer.rollback()


def migrated_copy(template: Path, target: Path) -> str:
    """A SQLite database at ``target`` copied from a migrated ``template`` (made on first use).

    Migrating once per test session instead of once per test; the copy is byte-for-byte what
    ``upgrade`` would have made.
    """
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        upgrade(f"sqlite:///{template}")
        with closing(sqlite3.connect(template)) as db:  # fold the write-ahead log into the file we copy
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
