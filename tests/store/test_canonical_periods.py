"""The database refuses a period not in canonical ``YYYY-MM`` form, and the migration names any it finds.

A month had several names (``2026-11``, the same in Arabic-Indic or fullwidth digits): each could be
closed, and each closed one billed the corrections again. The application parses periods once
(:func:`parse_period`); these tests show the last line of defence, the CHECK constraint (a trigger on
SQLite), refusing what slips past it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from attribution.errors import ConfigError
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine
from tests.support.postgres import fresh_database

ARABIC, FULLWIDTH = "\u0662\u0660\u0662\u0666-11", "\uff12\uff10\uff12\uff16-11"
NOT_CANONICAL = [
    ARABIC,
    FULLWIDTH,
    "2026-13",
    "2026-1 ",
    " 026-11",
    "2026-00",
    "26-11",
    "2026/11",
]


@pytest.mark.parametrize("period", NOT_CANONICAL)
def test_postgres_refuses_a_period_not_in_canonical_form(pg_url: str, period: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as conn, pytest.raises(IntegrityError, match="canonical"):
        conn.execute(text("INSERT INTO periods (period, status) VALUES (:p, 'open')"), {"p": period})
    engine.dispose()


def test_sqlite_refuses_a_period_not_in_canonical_form(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO periods (period, status) VALUES ('2026-11', 'open')"))
    for period in NOT_CANONICAL:
        with engine.connect() as conn, pytest.raises(IntegrityError, match="not YYYY-MM"):
            conn.execute(text("INSERT INTO periods (period, status) VALUES (:p, 'open')"), {"p": period})
    with engine.connect() as conn, pytest.raises(IntegrityError, match="not YYYY-MM"):
        conn.execute(text("UPDATE periods SET period = :p"), {"p": ARABIC})
    engine.dispose()


def test_the_migration_names_the_non_canonical_rows_it_finds(pg_server: str) -> None:
    with fresh_database(pg_server) as url:
        upgrade(url, "20261129d1r7")
        engine = make_engine(url)
        with engine.begin() as conn:
            for period in ("2026-11", ARABIC, FULLWIDTH):
                conn.execute(
                    text("INSERT INTO periods (period, status) VALUES (:p, 'closed')"), {"p": period}
                )
        with pytest.raises(ConfigError) as info:
            upgrade(url)
        message = info.value.detail
        assert (
            "periods.period: '\u0662\u0660\u0662\u0666-11', '\uff12\uff10\uff12\uff16-11'" in message
            and "'2026-11'" not in message
        )
        assert "delete or rename" in message
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM periods WHERE period <> '2026-11'"))
        upgrade(url)  # once the rows are resolved, the upgrade goes through
        engine.dispose()
