"""Line items as CSV for billing systems: one row per pool x tenant x tier over a window.

Money is written exactly: micro-USD as integers and as six-decimal USD strings, and the line's cents
(rounded once over the whole window, as the statement rounds). Each row has a ``line_id``, unique and
stable, that a billing system can use as its idempotency key; only a closed period's rows (``status``
closed) are issued, and their ids cover the period's content hash (docs/api.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from attribution.model.money import format_cents, format_micros
from attribution.reports.cells import csv_chunks
from attribution.reports.lineitems import LineItem
from attribution.timeutil import iso

LINE_COLUMNS = [
    "line_id",
    "start",
    "end",
    "tenant",
    "pool",
    "tier",
    "charge_class",
    "charge_period",
    "status",
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_token_seconds",
    "memory_gib_hours",
    "kv_in_use_usd",
    "static_usd",
    "idle_usd",
    "idle_cold_usd",
    "idle_warm_usd",
    "kv_headroom_usd",
    "unmeasured_usd",
    "recovery_usd",
    "total_usd",
    "total_usd_micros",
    "total_cents",
    "total_usd_rounded",
    "estimated",
]


def line_id(start: datetime, end: datetime, line: LineItem) -> str:
    """The id the line set gave the line (:func:`attribution.reports.lineset.line_id`: unique, stable, and
    for a closed period bound to its content hash); a line read outside a set gets one from its window."""
    if line.line_id:
        return line.line_id
    text = "\x1f".join((iso(start), iso(end), *line.key))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def lines_csv(
    start: datetime, end: datetime, lines: Iterable[tuple[LineItem, int]], status: str = "provisional"
) -> str:
    """``lines`` pairs each line with its cents; ``status`` is the set's (closed, open, provisional)."""
    return "".join(lines_csv_chunks(start, end, lines, status))


def lines_csv_chunks(
    start: datetime, end: datetime, lines: Iterable[tuple[LineItem, int]], status: str = "provisional"
) -> Iterator[str]:
    """:func:`lines_csv` in chunks of rows, for a streamed export."""
    return csv_chunks(_line_rows(start, end, lines, status))


def _line_rows(
    start: datetime, end: datetime, lines: Iterable[tuple[LineItem, int]], status: str
) -> Iterator[list[object]]:
    yield list(LINE_COLUMNS)
    for x, cents in lines:
        yield (
            [
                line_id(start, end, x),
                iso(start),
                iso(end),
                x.tenant,
                x.pool,
                x.tier,
                x.charge_class,
                x.charge_period or "",
                status,
                x.requests,
                x.prompt_tokens,
                x.generation_tokens,
                f"{x.kv_token_seconds:.3f}",
                f"{x.memory_gib_hours:.6f}",
                format_micros(x.kv_in_use_usd_micros),
                format_micros(x.static_usd_micros),
                format_micros(x.idle_usd_micros),
                format_micros(x.idle_cold_usd_micros),
                format_micros(x.idle_warm_usd_micros),
                format_micros(x.kv_headroom_usd_micros),
                format_micros(x.unmeasured_usd_micros),
                format_micros(x.recovery_usd_micros),
                format_micros(x.total_usd_micros),
                x.total_usd_micros,
                cents,
                format_cents(cents),
                str(x.estimated).lower(),
            ]
        )
