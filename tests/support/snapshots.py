"""What the database holds after a run, in key order: the reliability tests compare runs with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.tables import AttributedCost, ClusterCost, PoolCost

Rows = dict[str, list[tuple[Any, ...]]]


def attributed(factory: sessionmaker[Session]) -> Rows:
    """Every attributed line, pool cost and cluster cost, in key order."""
    out: Rows = {}
    with factory() as session:
        for model in (AttributedCost, PoolCost, ClusterCost):
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [
                tuple(r) for r in session.execute(select(model.__table__).order_by(*keys))
            ]
    return out
