"""The query-parameter models shared by the report routes: the window a report covers and the line items
it keeps. Each is one parameter of a route (``WindowQuery``, ``LineQuery`` in :mod:`attribution.api.deps`)
that FastAPI spreads into the same query parameters as before, validated with the route's other
parameters; each resolves, in the route, to what the reports take.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from attribution.access import Principal
from attribution.api.params import NAME_PATTERN, CanonicalName, check_cluster, resolve_period, resolve_window
from attribution.config import Settings
from attribution.model.vocabulary import RESERVED_NAMES
from attribution.reports.chargeback import LineFilter, check_filter
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import LineSet


class WindowParams(BaseModel):
    """A period (``YYYY-MM``, a UTC calendar month) or ``start`` and ``end``: see :func:`resolve_window`."""

    period: str | None = Field(
        None,
        max_length=20,
        description="billing period YYYY-MM (UTC month); or start and end",
        examples=["2026-11"],
    )
    start: str | None = Field(
        None, max_length=40, description="ISO 8601 UTC instant, inclusive", examples=["2026-11-01T00:00:00Z"]
    )
    end: str | None = Field(
        None, max_length=40, description="ISO 8601 UTC instant, exclusive", examples=["2026-11-02T00:00:00Z"]
    )

    def resolve(self, settings: Settings) -> tuple[datetime, datetime]:
        """The half-open window, aligned to whole stored lines; a bad or missing window is a 422."""
        return resolve_window(settings, self.period, self.start, self.end)

    @property
    def period_name(self) -> str | None:
        """The canonical period asked for (its statement's lines are served), or None for a raw window."""
        return None if self.period is None else resolve_period(self.period)


def _name(description: str) -> Any:
    """A name filter's check: printable and short here, canonical by :data:`CanonicalName`."""
    return Field(pattern=NAME_PATTERN, description=description)


class LineFilterParams(BaseModel):
    """Which line items to keep; ``None`` keeps every value."""

    tenant: Annotated[str | None, _name("only this tenant"), CanonicalName] = None
    pool: Annotated[str | None, _name("only this pool"), CanonicalName] = None
    tier: Annotated[str | None, _name("only this context tier"), CanonicalName] = None
    cluster: Annotated[str | None, _name("only this cluster ([[clusters]] name)"), CanonicalName] = None

    def resolve(self, session: Session, settings: Settings, principal: Principal) -> LineFilter:
        """The filter to apply, with a tenant key's own tenant forced in; unknown tenant, pool or
        cluster: 404."""
        check_cluster(settings, self.cluster)
        keep = LineFilter(principal.own_tenant(self.tenant), self.pool, self.tier, self.cluster)
        pools = [p.name for p in settings.pools] + sorted(RESERVED_NAMES)
        check_filter(session, keep, pools, tenant_key=principal.tenant is not None)
        return keep


def kept_lines(found: LineSet, keep: LineFilter) -> list[LineItem]:
    """The set's lines that pass ``keep``, with the amounts the whole set gave them."""
    return [x for x in found.lines if keep.keep(x)]
