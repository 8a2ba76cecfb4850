"""Name parameters shared by the routes, and the one place a window is resolved (the parameter models
that carry a window and a line filter are in :mod:`attribution.api.filters`).

A window is a period (``YYYY-MM``, a UTC calendar month) or ``start`` and ``end`` (ISO 8601 with an
offset), half-open, widened outward to whole stored lines. Anything the calendar cannot hold (year 0, a
bound past 9999) is a 422 like every other bad window, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

from attribution.config import Settings
from attribution.errors import InvalidWindowError, NotFoundError
from attribution.model.names import canonical_name
from attribution.timeutil import align_window, parse_instant, parse_period, period_window

#: Names (tenants, pools, tiers) as label values: printable, at most 200 characters (the column width).
#: The pattern is what OpenAPI shows; :data:`CanonicalName` is the whole check (:func:`canonical_name`).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"


def _canonical(name: str | None) -> str | None:
    return None if name is None else canonical_name(name)


#: A name as stored (NFC), or a 422 naming the invisible, bidirectional or look-alike character.
CanonicalName = AfterValidator(_canonical)

TenantQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="only this tenant"), CanonicalName
]
PoolQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, description="only this pool"), CanonicalName]
ClusterQuery = Annotated[
    str | None,
    Query(pattern=NAME_PATTERN, description="only this cluster ([[clusters]] name)"),
    CanonicalName,
]


def check_cluster(settings: Settings, cluster: str | None) -> None:
    """A cluster filter naming no cluster of the deployment is a 404, as ``cluster=`` on the chargeback."""
    if cluster is not None and cluster not in settings.cluster_names():
        raise NotFoundError(f"no cluster named {cluster!r}")


def grain_seconds(settings: Settings) -> int:
    """Stored lines start on this grid; windows align to it so none is cut in half."""
    return max(settings.interval_seconds, settings.line_grain_seconds)


def resolve_window(
    settings: Settings, period: str | None, start: str | None, end: str | None
) -> tuple[datetime, datetime]:
    try:
        if period is not None:
            if start is not None or end is not None:
                raise InvalidWindowError("give either period or start and end, not both")
            s, e = period_window(period)
        elif start is not None and end is not None:
            s, e = parse_instant(start), parse_instant(end)
        else:
            raise InvalidWindowError("give period=YYYY-MM or both start and end")
        return align_window(s, e, grain_seconds(settings), settings.max_window_days)
    except (ValueError, OverflowError) as exc:
        raise InvalidWindowError(f"window out of range: {exc}") from None


def resolve_period(period: str) -> str:
    """The canonical period name (:func:`parse_period`), or a 422."""
    try:
        period_window(period)
    except (ValueError, OverflowError) as exc:
        raise InvalidWindowError(f"period out of range: {exc}") from None
    return parse_period(period)


CurrencyQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 billing currency; default: the tenant's or the deployment's billing currency",
    ),
]
