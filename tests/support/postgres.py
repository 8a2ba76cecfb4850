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


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="attribution-pg-"))
    data = base / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    pg_ctl = _pg_bin("pg_ctl")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


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
