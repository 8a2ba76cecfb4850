"""Periods: closing freezes a statement with a hash; later changes become corrections, never edits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import ConflictError, PeriodIncompleteError
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.model.statement import content_hash
from attribution.reports.period_statement import build_statement
from attribution.store.session import unit_of_work
from attribution.store.tables import CorrectionLine, StatementLine, TenantUsage
from attribution.store.writes import upsert
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
HOURS = 30 * 24
# hourly intervals keep a whole month small: 720 of them. 4 H100 x $2.99 x 720 h, by hand:
NOV_BILL_USD_MICROS = 8_611_200_000


def hourly_settings(**overrides: Any) -> Any:
    return small_cluster_settings(interval_seconds=3600, **overrides)


def load_november(factory: sessionmaker[Session]) -> None:
    minutes = HOURS * 60
    usage = [create_usage_row(h * 60, "acme", "0-4k", 4e7, start=NOV) for h in range(HOURS)]
    usage += [create_usage_row(h * 60, "umbrella", "128k+", 9e8, start=NOV) for h in range(0, HOURS, 5)]
    store(
        factory,
        create_gpu_rows(minutes, step_minutes=60, start=NOV),
        create_kv_rows(minutes, 0.3, step_minutes=60, start=NOV),
        usage,
    )


def late_usage() -> list[dict[str, Any]]:
    """A gateway backfill: a new tenant used the pool on November 3rd."""
    return [create_usage_row(h * 60, "late", "4k-32k", 5e8, start=NOV) for h in range(48, 72)]


def attribute_november(factory: sessionmaker[Session], **overrides: Any) -> Any:
    return run_attribution(hourly_settings(**overrides), factory, NOV, DEC)


def close(factory: sessionmaker[Session], key: str | None = "k1") -> Any:
    with unit_of_work(factory) as session:
        row, closed_now = close_period(session, "2026-11", 3600, key)
        return row.content_hash, closed_now


def test_a_period_with_unattributed_intervals_cannot_close(pg_tx: sessionmaker[Session]) -> None:
    load_november(pg_tx)
    run_attribution(hourly_settings(), pg_tx, NOV, datetime(2026, 11, 20, tzinfo=UTC))  # 19 of 30 days
    with pytest.raises(PeriodIncompleteError, match="264 of 720 intervals not attributed"):
        close(pg_tx)


def test_closing_freezes_a_statement_that_sums_to_the_bill(pg_tx: sessionmaker[Session]) -> None:
    load_november(pg_tx)
    attribute_november(pg_tx)
    with pg_tx() as session:
        provisional = build_statement(session, "2026-11")
    digest, closed_now = close(pg_tx)
    assert closed_now
    with pg_tx() as session:
        statement = build_statement(session, "2026-11")
    assert statement.status == "closed" and provisional.status == "open"
    assert statement.total_usd_micros == NOV_BILL_USD_MICROS
    assert statement.total_cents == 861_120 == sum(line.total_cents for line in statement.lines)
    assert statement.content_hash == digest == content_hash("2026-11", statement.lines)
    assert statement.lines == provisional.lines  # nothing changed between the look and the close


def test_closing_again_is_idempotent_with_the_same_key_and_a_conflict_otherwise(
    pg_tx: sessionmaker[Session],
) -> None:
    load_november(pg_tx)
    attribute_november(pg_tx)
    digest, _ = close(pg_tx, "k1")
    assert close(pg_tx, "k1") == (digest, False)
    for other in ("k2", None):
        with pytest.raises(ConflictError, match="already closed"):
            close(pg_tx, other)


def statement_rows(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        rows = session.execute(select(*StatementLine.__table__.columns).order_by(StatementLine.tenant)).all()
    return [tuple(r) for r in rows]


def test_late_data_for_a_closed_period_becomes_corrections_in_the_next_one(
    pg_tx: sessionmaker[Session],
) -> None:
    load_november(pg_tx)
    attribute_november(pg_tx)
    digest, _ = close(pg_tx)
    frozen = statement_rows(pg_tx)
    # a gateway backfill arrives: a new tenant used the pool on November 3rd
    with unit_of_work(pg_tx) as session:
        upsert(session, TenantUsage, late_usage())
    summary = attribute_november(pg_tx)
    assert summary.correction_lines > 0
    assert statement_rows(pg_tx) == frozen  # the issued statement is untouched
    with pg_tx() as session:
        assert build_statement(session, "2026-11").content_hash == digest
        december = build_statement(session, "2026-12")
        corrections = [x for x in december.lines if x.charge_class == "correction"]
    assert {x.charge_period for x in corrections} == {"2026-11"}
    by_tenant = {x.tenant: x.total_usd_micros for x in corrections if x.pool == "small"}
    assert by_tenant["late"] > 0 and by_tenant["acme"] < 0 and by_tenant["umbrella"] < 0
    # moving cost between tenants leaves the bill alone: the corrections net to zero
    assert sum(x.total_usd_micros for x in corrections) == 0
    # re-running changes nothing: corrections already billed are not billed again
    assert attribute_november(pg_tx).correction_lines == 0


def test_a_backdated_price_change_corrects_the_bill_itself(pg_tx: sessionmaker[Session]) -> None:
    load_november(pg_tx)
    attribute_november(pg_tx)
    close(pg_tx)
    repriced = [{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "3.49"}]
    attribute_november(pg_tx, gpu_prices=repriced)
    with pg_tx() as session:
        total = session.scalar(select(func.sum(CorrectionLine.total_usd_micros)))
    # 4 GPUs x $0.50 more x 720 h
    assert total == 1_440_000_000
