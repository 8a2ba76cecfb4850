"""Shared fixtures: a real PostgreSQL (migrated with Alembic), SQLite, and the Prometheus binaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.database import migrated_copy, rolled_back, truncate_all
from tests.support.postgres import fresh_database, server_url

# No per-example deadline and no "too slow" health check: both time the machine, not the code, and fail
# under load (CI shares two cores with Postgres, Prometheus and Chromium). A property either holds or not.
settings.register_profile(
    "attribution",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("attribution")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "committed: the test's data must be committed for another connection (see pg_factory)"
    )


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests ask the API far more often than a client should; tests/api/test_limits.py sets its own."""
    monkeypatch.setenv("ATTRIBUTION_API__RATE_LIMIT_PER_MINUTE", "0")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with server_url() as url:
        yield url


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A migrated database for this test session."""
    with fresh_database(pg_server) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_factory(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on the session's Postgres database, emptied before and after each test.

    For committed data that another connection, thread or process must see; otherwise take ``pg_tx``.
    """
    truncate_all(pg_engine)
    yield make_sessionmaker(pg_engine)
    truncate_all(pg_engine)


@pytest.fixture
def pg_tx(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on one Postgres connection whose transaction is rolled back after the test.

    The code under test commits as usual (each commit ends a savepoint); nothing reaches the database
    for good, so no test sees another's rows and nothing needs emptying (tests/support/database.py).
    """
    with rolled_back(pg_engine) as factory:
        yield factory


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's migrated SQLite database is kept (made on first use), for copies per test."""
    return tmp_path_factory.getbasetemp() / "sqlite-template" / "attribution.db"


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database of this test's own: a copy of the session's migrated one."""
    return migrated_copy(sqlite_template, tmp_path / "attribution.db")


@pytest.fixture
def sqlite_factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on each database the service runs on: the session's Postgres, and a SQLite file of
    the test's own (test ids ``[postgres]`` and ``[sqlite]``)."""
    if request.param == "postgres":
        found: Engine = request.getfixturevalue("pg_engine")
        return found
    sqlite = make_engine(request.getfixturevalue("sqlite_url"))
    request.addfinalizer(sqlite.dispose)
    return sqlite


@pytest.fixture
def db_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on ``engine``: on Postgres rolled back after the test (``pg_tx``), on SQLite a
    database of the test's own."""
    if engine.dialect.name == "postgresql":
        with rolled_back(engine) as factory:
            yield factory
    else:
        yield make_sessionmaker(engine)
