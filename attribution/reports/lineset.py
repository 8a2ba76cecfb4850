"""A window's line items as finance issues them: the one source of every chargeback, line-item page and
line-item export of the API.

- A closed period (``period=YYYY-MM``) serves its frozen statement lines (usage, and the corrections
  billed in it), amounts identical to the statement, whatever was restated since.
- An open period serves its provisional statement: its own usage lines and the corrections billed in it.
- A raw window (``start``/``end``) is a provisional view of the stored lines, rounded the same way.

Cents are rounded once, over every line of the set, by largest remainder (:func:`rounded_lines`, the
statement's rounding); groupings sum those cents and filters apply last, so no filter, page or key ever
changes an amount. Each line has a ``line_id`` that is unique in the set and stable; a closed period's
ids are bound to its content hash, so a restated amount can never reuse an issued id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from attribution.model.statement import Line, rounded_lines
from attribution.reports.lineitems import LineItem, window_lines
from attribution.reports.period_statement import build_statement
from attribution.store.lines import estimated_keys
from attribution.store.tables import Period
from attribution.timeutil import iso, period_window

CLOSED, OPEN, PROVISIONAL = "closed", "open", "provisional"


@dataclass(frozen=True, slots=True)
class LineSet:
    """The lines of one window, ordered by :attr:`LineItem.key` (the order cursors page in)."""

    start: datetime
    end: datetime
    period: str | None
    status: str
    content_hash: str | None
    lines: list[LineItem]

    @property
    def provisional(self) -> bool:
        """Only a closed period's lines are issued; anything else may still change."""
        return self.status != CLOSED


def period_state(session: Session, period: str | None, fresh: bool = False) -> tuple[str, str | None]:
    """(status, content hash) of a period as a line set sees it: part of the key its lines are kept by.
    ``fresh`` reads the row from the database even when the session already holds it."""
    if period is None:
        return PROVISIONAL, None
    row = session.get(Period, period, populate_existing=fresh)
    if row is not None and row.status == CLOSED:
        return CLOSED, row.content_hash
    return OPEN, None


def read_line_set(session: Session, start: datetime, end: datetime, period: str | None) -> LineSet:
    """The period's statement lines when ``period`` is given (``[start, end)`` is then its window), else
    the stored lines of ``[start, end)`` rounded as a statement would round them."""
    if period is None:
        lines = round_items(window_lines(session, start, end))
        return _ordered(LineSet(start, end, None, PROVISIONAL, None, lines))
    found = build_statement(session, period)
    flags: dict[str, set[tuple[str, str, str]]] = {}
    for charge_period in {x.charge_period for x in found.lines}:
        flags[charge_period] = estimated_keys(session, *period_window(charge_period))
    lines = [_item(x, flags[x.charge_period]) for x in found.lines]
    return _ordered(LineSet(start, end, period, found.status, found.content_hash, lines))


def round_items(items: list[LineItem]) -> list[LineItem]:
    """Items with their cents, rounded once over all of them exactly as a statement rounds its lines."""
    flagged = {x.key for x in items if x.estimated}
    rounded = [_item(x, set()) for x in rounded_lines([_raw(x) for x in items])]
    return [replace(x, estimated=x.key in flagged) for x in rounded]


def _raw(x: LineItem) -> dict[str, Any]:
    """A summed stored line as the statement's raw line, to round it exactly as a statement does."""
    names = [f for f in Line.__slots__ if f not in ("charge_class", "charge_period", "total_cents")]
    return {
        "charge_class": x.charge_class,
        "charge_period": x.charge_period or "",
        **{f: getattr(x, f) for f in names},
    }


def _item(x: Line, estimated: set[tuple[str, str, str]]) -> LineItem:
    return LineItem(
        tenant=x.tenant,
        pool=x.pool,
        tier=x.tier,
        requests=x.requests,
        prompt_tokens=x.prompt_tokens,
        generation_tokens=x.generation_tokens,
        kv_token_seconds=x.kv_token_seconds,
        kv_byte_seconds=x.kv_byte_seconds,
        kv_in_use_usd_micros=x.kv_in_use_usd_micros,
        static_usd_micros=x.static_usd_micros,
        idle_usd_micros=x.idle_usd_micros,
        idle_cold_usd_micros=x.idle_cold_usd_micros,
        idle_warm_usd_micros=x.idle_warm_usd_micros,
        kv_headroom_usd_micros=x.kv_headroom_usd_micros,
        unmeasured_usd_micros=x.unmeasured_usd_micros,
        recovery_usd_micros=x.recovery_usd_micros,
        total_usd_micros=x.total_usd_micros,
        estimated=(x.tenant, x.pool, x.tier) in estimated,
        charge_class=x.charge_class,
        charge_period=x.charge_period or None,
        total_cents=x.total_cents,
    )


def _ordered(found: LineSet) -> LineSet:
    """Sorted by key, each line with its id."""
    lines = sorted(found.lines, key=lambda x: x.key)
    ids = [line_id(found, x) for x in lines]
    return LineSet(
        found.start,
        found.end,
        found.period,
        found.status,
        found.content_hash,
        [replace(x, line_id=i) for x, i in zip(lines, ids, strict=True)],
    )


def line_id(found: LineSet, line: LineItem) -> str:
    """Unique in the set, and the same on every read of the same set. A closed period's ids cover its
    content hash (an issued line's id always means the issued amount); an open period's and a raw
    window's ids are provisional and name their status, so they never collide with an issued id."""
    scope = [found.status, found.period or "", found.content_hash or ""]
    if found.period is None:
        scope += [iso(found.start), iso(found.end)]
    text = "\x1f".join((*scope, *line.key))
    return hashlib.sha256(text.encode()).hexdigest()[:24]
