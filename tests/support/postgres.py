"""A PostgreSQL for the tests: the server named by ATTRIBUTION_TEST_DATABASE_URL, or a throwaway cluster.

Each test session gets its own database on that server, migrated with Alembic, dropped at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from attribution.localprom import free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} not found: install Debian's postgresql or set ATTRIBUTION_TEST_DATABASE_URL"
        )
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temporary directory, on a free port, that a test may stop and
    start again on the same data and port (a database restart, for real)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="attribution-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args]), check=check, capture_output=True
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.base / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client and shuts down cleanly; ``immediate`` is a crash."""
        self._ctl("-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    with running_cluster() as cluster:
        yield cluster.url


@contextmanager
def running_cluster() -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def terminate_backends(url: str, database: str) -> int:
    """``pg_terminate_backend`` every other session on ``database``: a dropped connection, for real."""
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def server_url() -> Iterator[str]:
    named = os.environ.get("ATTRIBUTION_TEST_DATABASE_URL")
    if named:
        yield named
        return
    with throwaway_cluster() as url:
        yield url


def _admin_dsn(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username or 'postgres'} dbname={u.database}"


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    name = f"attribution_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_dsn(base_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_dsn(base_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database_on(url: str | None) -> Iterator[str]:
    """A new, empty database on the server at ``url``, or, without one, on a throwaway cluster of its own
    (the benches' ``--database-url``); dropped afterwards."""
    if url:
        with fresh_database(url) as db:
            yield db
        return
    with throwaway_cluster() as server, fresh_database(server) as db:
        yield db
