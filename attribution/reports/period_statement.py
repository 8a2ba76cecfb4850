"""Period statements: the provisional statement of an open period, the frozen one of a closed period."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from attribution.errors import NotFoundError
from attribution.model.statement import Line, rounded_lines
from attribution.store.statements import correction_lines, frozen_lines, usage_lines
from attribution.store.tables import Period
from attribution.timeutil import iso, period_window


@dataclass(frozen=True, slots=True)
class Statement:
    period: str
    status: str
    lines: list[Line]
    total_usd_micros: int
    total_cents: int
    content_hash: str | None
    closed_at: datetime | None

    def for_tenant(self, tenant: str) -> Statement:
        """Only ``tenant``'s lines, with the amounts the whole statement gave them; the content hash stays
        that of the issued statement they belong to."""
        lines = [x for x in self.lines if x.tenant == tenant]
        if not lines:
            raise NotFoundError(f"tenant {tenant!r} has no lines in the statement of {self.period}")
        total_micros = sum(x.total_usd_micros for x in lines)
        total_cents = sum(x.total_cents for x in lines)
        return replace(self, lines=lines, total_usd_micros=total_micros, total_cents=total_cents)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["closed_at"] = iso(self.closed_at) if self.closed_at else None
        return body


def build_statement(session: Session, period: str) -> Statement:
    """The frozen statement of a closed period, or the provisional one of an open period."""
    period_window(period)  # validates the name
    row = session.get(Period, period)
    if row is not None and row.status == "closed":
        stored = frozen_lines(session, period)
        lines = sorted(
            (Line(**{f: getattr(s, f) for f in Line.__slots__}) for s in stored), key=lambda x: x.sort_key
        )
        return Statement(
            period,
            "closed",
            lines,
            int(row.total_usd_micros or 0),
            int(row.total_cents or 0),
            row.content_hash,
            row.closed_at,
        )
    lines = rounded_lines(usage_lines(session, period) + correction_lines(session, period))
    return Statement(
        period,
        "open",
        lines,
        sum(x.total_usd_micros for x in lines),
        sum(x.total_cents for x in lines),
        None,
        None,
    )
