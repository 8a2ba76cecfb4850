"""The SQL of budget alerts: record a crossing once, find what is still to send, log each attempt.

An alert's row is keyed by its delivery id (one per budget, period, threshold and kind), and inserted
with ``ON CONFLICT DO NOTHING``: checking twice, or two replicas checking at once, fires it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from attribution.store.dialect import upsert_insert
from attribution.store.expressions import table_of
from attribution.store.tables import BudgetAlert

PENDING, DELIVERED, FAILED, UNSENT = "pending", "delivered", "failed", "unsent"


def record_alert(session: Session, values: dict[str, object]) -> bool:
    """Insert the alert unless its delivery id is already recorded; True when this call fired it."""
    statement = (
        upsert_insert(session, table_of(BudgetAlert))
        .values(**values)
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(table_of(BudgetAlert).c.delivery_id)
    )
    return session.execute(statement).scalar() is not None


def alerts_of(session: Session, period: str | None = None) -> Sequence[BudgetAlert]:
    query = select(BudgetAlert).order_by(BudgetAlert.fired_at, BudgetAlert.delivery_id)
    if period is not None:
        query = query.where(BudgetAlert.period == period)
    return session.scalars(query).all()


def set_status(session: Session, delivery_id: str, status: str, checks: int, at: datetime | None) -> None:
    session.execute(
        update(BudgetAlert)
        .where(BudgetAlert.delivery_id == delivery_id)
        .values(status=status, checks=checks, delivered_at=at)
    )


def pending_ids(session: Session) -> list[str]:
    query = select(BudgetAlert.delivery_id).where(BudgetAlert.status == PENDING)
    return list(session.scalars(query.order_by(BudgetAlert.fired_at, BudgetAlert.delivery_id)))


def lock_pending(session: Session, delivery_id: str) -> BudgetAlert | None:
    """The alert if it is still pending, locked for this transaction; None if it was delivered meanwhile
    or another replica holds it (Postgres skips a locked row; SQLite has one writer anyway)."""
    return session.scalars(
        select(BudgetAlert)
        .where(BudgetAlert.delivery_id == delivery_id, BudgetAlert.status == PENDING)
        .with_for_update(skip_locked=True)
    ).first()
