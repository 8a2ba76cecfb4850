"""kill -9 of the scheduler in the middle of a write, twice, then a restart: the database ends identical
to an uninterrupted run's: every collected row, every attributed line, every watermark.

The scheduler runs as its own process (``tests.scheduler.replica``: the real APScheduler with every job,
on a pinned clock), with chunks of an hour so each write is large. The test watches ``pg_stat_activity``
and sends SIGKILL at the moment the process's connection has a transaction open whose last statement
writes collected rows (COPY/INSERT into a sample table): the chunk's rows are in the database but not
committed. Restarted, it is killed again while the attribution job writes its lines. Each time, the
killed transaction must have vanished whole (the watermark where the last commit left it, no row past
it, the lines still summing to the cost they split), and the restarted process must finish the work.
An uninterrupted run of the same process on its own database, at the same time, is the reference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import JobConfig, SchedulerConfig
from attribution.localprom import LocalPrometheus
from attribution.store.collection_state import CollectionLog, CollectorWatermark
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost, ClusterCost
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot
from tests.support.snapshots import Rows, attributed

ROOT = Path(__file__).resolve().parents[2]
NOW = END + timedelta(seconds=60)
COLLECTED = {"gpu": "gpu_samples", "kv": "kv_samples", "gateway": "tenant_usage"}
#: the last statement of a backend in the middle of writing collected rows, or attributed lines
WRITING_ROWS = r"^\s*(COPY|INSERT INTO) \"?(_bulk_)?(gpu_samples|kv_samples|tenant_usage)\y"
WRITING_LINES = r"^\s*(COPY|DELETE FROM|INSERT INTO) \"?attributed_costs\y"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.name = make_url(url).database or ""
        self.engine = make_engine(url)
        self.factory = make_sessionmaker(self.engine)
        u = make_url(url)
        self.dsn = f"host={u.host} port={u.port or 5432} user={u.username or 'postgres'} dbname=postgres"


@pytest.fixture
def two_databases(pg_server: str) -> Iterator[tuple[Database, Database]]:
    with fresh_database(pg_server) as a, fresh_database(pg_server) as b:
        upgrade(a)
        upgrade(b)
        dbs = Database(a), Database(b)
        yield dbs
        for db in dbs:
            db.engine.dispose()


def start_scheduler(settings_file: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.replica", str(settings_file), NOW.isoformat(), "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def kill_while_writing(process: subprocess.Popen[bytes], db: Database, pattern: str) -> str:
    """SIGKILL ``process`` as soon as a backend on ``db`` has an open transaction whose last statement
    matches ``pattern``; returns that statement. Then waits until Postgres has ended the backend."""
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the scheduler finished before a write was caught"
            row = conn.execute(
                "SELECT query, pid FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL "
                "AND state IN ('active', 'idle in transaction') AND query ~* %s",
                (db.name, pattern),
            ).fetchone()
            if row is not None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                break
        else:
            raise AssertionError("no write was caught")
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (row[1],)).fetchone():
            time.sleep(0.05)  # Postgres has noticed the closed socket and rolled the transaction back
    return str(row[0])


def watermarks(factory: sessionmaker[Session]) -> dict[str, datetime]:
    with factory() as session:
        return {w.collector: w.watermark for w in session.scalars(select(CollectorWatermark))}


def assert_nothing_half_written(factory: sessionmaker[Session], reference: Rows) -> None:
    """Each collector holds exactly the rows below its watermark, and the lines sum to the cost."""
    marks, rows = watermarks(factory), snapshot(factory)
    for collector, table in COLLECTED.items():
        below = [r for r in reference[table] if collector in marks and r[0] < marks[collector]]
        assert rows[table] == below, f"{table}: rows past the watermark, or missing below it"
    with factory() as session:
        lines = session.scalar(select(func.sum(AttributedCost.total_usd_micros))) or 0
        cost = session.scalar(select(func.sum(ClusterCost.cost_usd_micros))) or 0
        logged = session.scalars(select(CollectionLog)).all()
    assert lines == cost
    for collector in COLLECTED:
        ends = [r.window_end for r in logged if r.collector == collector]
        assert max(ends, default=None) == (marks.get(collector) if ends else None)


def durable_state(factory: sessionmaker[Session]) -> dict[str, Any]:
    """What must match: rows, lines, watermarks and the chunk log, without wall-clock times."""
    with factory() as session:
        marks = sorted(
            (w.collector, w.source, w.watermark, w.consecutive_failures, w.last_error)
            for w in session.scalars(select(CollectorWatermark))
        )
        log = sorted(
            (r.collector, r.source, r.window_start, r.window_end, r.rows, r.mode)
            for r in session.scalars(select(CollectionLog))
        )
    return {"rows": snapshot(factory), "lines": attributed(factory), "watermarks": marks, "log": log}


@pytest.mark.slow
def test_kill_9_mid_write_then_restart_ends_identical_to_an_uninterrupted_run(
    simulated: Simulated,
    sim_prometheus: LocalPrometheus,
    two_databases: tuple[Database, Database],
    undisturbed: tuple[Rows, Rows],
    tmp_path: Path,
) -> None:
    victim, reference = two_databases
    every = JobConfig(every_seconds=1)
    files = []
    for db in (victim, reference):
        settings = collection_settings(simulated, db.url, sim_prometheus.url, chunk_intervals=60)
        settings = settings.model_copy(
            update={
                "scheduler": SchedulerConfig(
                    gpu=every, kv=every, gateway=every, attribution=every, metrics_port=0
                )
            }
        )
        files.append(tmp_path / f"{db.name}.json")
        files[-1].write_text(settings.model_dump_json())
    uninterrupted = start_scheduler(files[1])
    began = time.monotonic()
    first = kill_while_writing(start_scheduler(files[0]), victim, WRITING_ROWS)
    assert_nothing_half_written(victim.factory, undisturbed[0])
    assert min(watermarks(victim.factory).values(), default=START) < END  # killed with work left to do
    second = kill_while_writing(start_scheduler(files[0]), victim, WRITING_LINES)
    assert_nothing_half_written(victim.factory, undisturbed[0])
    restarted = start_scheduler(files[0])
    for process in (restarted, uninterrupted):
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out.decode()[-3000:]
    elapsed = time.monotonic() - began
    ours, theirs = durable_state(victim.factory), durable_state(reference.factory)
    assert ours["rows"] == theirs["rows"] == undisturbed[0]
    assert ours["lines"] == theirs["lines"] == undisturbed[1]
    assert ours["watermarks"] == theirs["watermarks"]
    assert {m[2] for m in ours["watermarks"]} == {END}
    assert ours["log"] == theirs["log"]
    rows, lines = sum(map(len, ours["rows"].values())), sum(map(len, ours["lines"].values()))
    print(
        f"\nscheduler killed: 1st while {first[:60]!r}, 2nd while {second[:60]!r}; "
        f"rows compared {rows}, lines {lines}; "
        f"done {elapsed:.1f} s after the first start"
    )
