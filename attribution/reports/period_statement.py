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
    #: The billing currency (docs/currencies.md): ``total_cents`` and each line's cents unless
    #: :func:`attribution.reports.statement_currency.in_currency` converted the statement.
    billing_currency: str = "USD"
    exchange_rate: str = "1"
    rate_effective_from: datetime | None = None
    billing_exponent: int = 2
    total_billing_minor: int | None = None
    #: Each line's amount in billing minor units, in the order of ``lines``.
    line_billing_minor: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.total_billing_minor is None:  # in the pricing currency: the billing amounts are the cents
            object.__setattr__(self, "total_billing_minor", self.total_cents)
            object.__setattr__(self, "line_billing_minor", tuple(x.total_cents for x in self.lines))

    def for_tenant(self, tenant: str) -> Statement:
        """Only ``tenant``'s lines, with the amounts the whole statement gave them; the content hash stays
        that of the issued statement they belong to."""
        kept = [
            (x, m) for x, m in zip(self.lines, self.line_billing_minor, strict=True) if x.tenant == tenant
        ]
        if not kept:
            raise NotFoundError(f"tenant {tenant!r} has no lines in the statement of {self.period}")
        lines = [x for x, _ in kept]
        return replace(
            self,
            lines=lines,
            total_usd_micros=sum(x.total_usd_micros for x in lines),
            total_cents=sum(x.total_cents for x in lines),
            total_billing_minor=sum(m for _, m in kept),
            line_billing_minor=tuple(m for _, m in kept),
        )

    def to_dict(self) -> dict[str, Any]:
        """The statement as JSON: each line carries its ``total_billing_minor`` beside its USD amounts."""
        body = asdict(self)
        del body["line_billing_minor"]
        body["lines"] = [
            {**asdict(x), "total_billing_minor": m}
            for x, m in zip(self.lines, self.line_billing_minor, strict=True)
        ]
        body["closed_at"] = iso(self.closed_at) if self.closed_at else None
        body["rate_effective_from"] = iso(self.rate_effective_from) if self.rate_effective_from else None
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
