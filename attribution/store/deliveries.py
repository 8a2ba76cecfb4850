"""The delivery log (every attempt at delivering an alert or a statement) and the statements outbox.

The close of a period writes its outbox row (:func:`enqueue_statement`) in the close's own transaction,
so a statement is delivered only for a close that committed, and delivered later by whoever runs the
delivery pass (the scheduler after each attribution run, ``attribution budgets check``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from attribution.store.dialect import upsert_insert
from attribution.store.expressions import table_of
from attribution.store.tables import DeliveryAttempt, StatementDelivery

PENDING = "pending"


def log_attempt(
    session: Session,
    delivery_id: str,
    attempt: int,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_seconds: float,
) -> None:
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempt=attempt,
            attempted_at=at,
            status_code=status_code,
            error=error,
            duration_seconds=duration_seconds,
        )
    )
    session.flush()


def delivery_log(session: Session, delivery_id: str | None = None) -> Sequence[DeliveryAttempt]:
    query = select(DeliveryAttempt).order_by(DeliveryAttempt.id)
    if delivery_id is not None:
        query = query.where(DeliveryAttempt.delivery_id == delivery_id)
    return session.scalars(query).all()


def last_attempt_at(session: Session, delivery_id: str) -> datetime | None:
    query = select(func.max(DeliveryAttempt.attempted_at)).where(DeliveryAttempt.delivery_id == delivery_id)
    return session.scalar(query)


def attempts_logged(session: Session, delivery_id: str) -> int:
    query = (
        select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
    )
    return int(session.scalar(query) or 0)


def statement_delivery_id(period: str, content_hash: str) -> str:
    """The same issued statement always has the same id (a receiver drops a repeat)."""
    return hashlib.sha256(f"statement\x1f{period}\x1f{content_hash}".encode()).hexdigest()[:32]


def enqueue_statement(session: Session, period: str, content_hash: str, at: datetime) -> None:
    """Record that ``period``'s issued statement is to be delivered (once: a period closes once)."""
    values = {
        "period": period,
        "content_hash": content_hash,
        "delivery_id": statement_delivery_id(period, content_hash),
        "status": PENDING,
        "checks": 0,
        "enqueued_at": at,
    }
    statement = upsert_insert(session, table_of(StatementDelivery)).values(**values)
    session.execute(statement.on_conflict_do_nothing(index_elements=["period"]))


def pending_statements(session: Session) -> list[str]:
    query = select(StatementDelivery.period).where(StatementDelivery.status == PENDING)
    return list(session.scalars(query.order_by(StatementDelivery.period)))


def lock_pending_statement(session: Session, period: str) -> StatementDelivery | None:
    """The outbox row if still pending, locked for this transaction (skipped if another holds it)."""
    return session.scalars(
        select(StatementDelivery)
        .where(StatementDelivery.period == period, StatementDelivery.status == PENDING)
        .with_for_update(skip_locked=True)
    ).first()


def set_statement_status(
    session: Session, period: str, status: str, checks: int, at: datetime | None
) -> None:
    session.execute(
        update(StatementDelivery)
        .where(StatementDelivery.period == period)
        .values(status=status, checks=checks, delivered_at=at)
    )


def statement_deliveries(session: Session) -> Sequence[StatementDelivery]:
    return session.scalars(select(StatementDelivery).order_by(StatementDelivery.period)).all()
