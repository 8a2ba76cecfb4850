"""Two writers of the same window on Postgres: the second one's COPY meets the first one's lines, and says
so with the domain's ConflictError (not psycopg's UniqueViolation); and ``attribution attribute`` by hand
takes the scheduler's attribution lock, so it refuses clearly while the scheduler holds it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.cli import app
from attribution.errors import ConflictError
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import ensure_period
from attribution.store.collection_state import ALL_SOURCES, ATTRIBUTION, ensure_watermark, lock_watermark
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, CorrectionLine, TenantUsage
from attribution.store.writes import COPY_MIN_ROWS, replace_window, upsert
from attribution.timeutil import iso
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.ledger.test_periods import attribute_november, close, late_usage, load_november
from tests.support.cli_configs import CONFIG

MINUTES = 60
END = T0 + timedelta(minutes=MINUTES)


def stored_lines(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Attributed lines of an hour, to be written again by two writers."""
    tenants = [f"t{i:02d}" for i in range(12)]
    usage = [create_usage_row(m, t, "0-4k", 1e4) for m in range(MINUTES) for t in tenants]
    store(factory, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, 0.2), usage)
    run_attribution(small_cluster_settings(), factory, T0, END)
    table = AttributedCost.__table__
    with factory() as session:
        hour = [dict(r._mapping) for r in session.execute(select(table))]
    # the hour's lines, as if written at every minute of it: enough rows that writing them takes COPY
    rows = [{**r, "interval_start": T0 + timedelta(minutes=m)} for m in range(MINUTES) for r in hour]
    assert len(rows) >= COPY_MIN_ROWS
    return rows


def waiting_for_a_lock(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return bool(session.execute(text(query)).scalar())


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "insert"])
def test_a_second_writer_of_the_window_gets_a_conflict(pg_factory: sessionmaker[Session], copy: bool) -> None:
    rows = stored_lines(pg_factory)
    rows = rows if copy else rows[: COPY_MIN_ROWS - 1]
    start, end = T0, END
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with unit_of_work(pg_factory) as session:
                replace_window(session, AttributedCost, start, end, rows, cluster="default")  # waits
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with unit_of_work(pg_factory) as first:
        replace_window(first, AttributedCost, start, end, rows, cluster="default")
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 30
        while not waiting_for_a_lock(pg_factory):
            assert time.monotonic() < deadline, "the second writer never waited for the first"
            time.sleep(0.05)
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome
    assert outcome[0].status_code == 409 and "another attribution run wrote this window" in outcome[0].detail
    with pg_factory() as session:  # the first writer's lines stand, once
        assert session.execute(select(text("count(*)")).select_from(AttributedCost)).scalar() == len(rows)


def test_attribute_by_hand_refuses_while_the_scheduler_runs(
    pg_factory: sessionmaker[Session], pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stored_lines(pg_factory)
    config = tmp_path / "attribution.toml"
    config.write_text(CONFIG.replace('"sqlite:///{db}"', f'"{pg_url}"').replace("{{", "{").replace("}}", "}"))
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    window = ["--start", iso(T0), "--end", iso(END)]
    runner = CliRunner()
    now = datetime.now(UTC)
    with unit_of_work(pg_factory) as session:
        ensure_watermark(session, ATTRIBUTION, ALL_SOURCES, T0, now)
    with unit_of_work(pg_factory) as scheduler:  # the scheduler's attribution job, mid-run
        assert lock_watermark(scheduler, ATTRIBUTION, ALL_SOURCES) is not None
        result = runner.invoke(app, ["attribute", *window])
        assert isinstance(result.exception, ConflictError), result.output
        assert "scheduler's attribution job is running" in result.exception.detail
    result = runner.invoke(app, ["attribute", *window])  # the job has finished
    assert result.exit_code == 0, result.output
    assert "attributed" in result.output


def test_a_run_issuing_corrections_waits_for_another_transaction_on_the_period(
    pg_factory: sessionmaker[Session],
) -> None:
    """Two clusters attribute concurrently (each under its own cluster lock): corrections compare a closed
    period's current lines (one statement) with what was billed (another), so a run reading the lines
    before another cluster's run commits and the billed corrections after it would bill that run's
    correction in reverse. The run takes the period's row lock (``ensure_period``, FOR UPDATE) before it
    reads either, so it waits for any transaction holding the period and then reads both after it."""
    load_november(pg_factory)
    attribute_november(pg_factory)
    close(pg_factory)
    with unit_of_work(pg_factory) as session:
        upsert(session, TenantUsage, late_usage())
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(attribute_november(pg_factory))
        except BaseException as exc:
            outcome.append(exc)

    with unit_of_work(pg_factory) as other:  # another cluster's run, between its lines and its commit
        ensure_period(other, "2026-11")
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 60
        while not waiting_for_a_lock(pg_factory):
            assert thread.is_alive() and time.monotonic() < deadline, f"the run did not wait: {outcome}"
            time.sleep(0.05)
    thread.join(timeout=120)
    assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
    assert outcome[0].correction_lines > 0
    with pg_factory() as session:
        totals = session.execute(select(func.sum(CorrectionLine.total_usd_micros))).scalar()
    assert totals == 0  # cost moved between tenants: the corrections net to zero, billed once
    assert attribute_november(pg_factory).correction_lines == 0
