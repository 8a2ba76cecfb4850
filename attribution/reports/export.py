"""Line items as CSV for billing systems: one row per pool x tenant x tier over a window.

Money is written exactly: micro-USD as integers and as six-decimal USD strings, and the line's cents
(rounded over the whole window, :func:`line_cents`). Each row has a stable ``line_id`` (window, tenant,
pool, tier) that a billing system can use as its idempotency or transaction key when re-importing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from datetime import datetime

from attribution.model.money import format_cents, format_micros
from attribution.reports.chargeback import LineItem
from attribution.timeutil import iso

LINE_COLUMNS = [
    "line_id",
    "start",
    "end",
    "tenant",
    "pool",
    "tier",
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_token_seconds",
    "memory_gib_hours",
    "kv_in_use_usd",
    "static_usd",
    "idle_usd",
    "unmeasured_usd",
    "total_usd",
    "total_usd_micros",
    "total_cents",
    "total_usd_rounded",
    "estimated",
]


def line_id(start: datetime, end: datetime, line: LineItem) -> str:
    """Deterministic: the same window and key always give the same id (a billing system dedupes on it)."""
    text = "\x1f".join((iso(start), iso(end), line.tenant, line.pool, line.tier))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def lines_csv(start: datetime, end: datetime, lines: Iterable[tuple[LineItem, int]]) -> str:
    """``lines`` pairs each line with its cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LINE_COLUMNS)
    for x, cents in lines:
        writer.writerow(
            [
                line_id(start, end, x),
                iso(start),
                iso(end),
                x.tenant,
                x.pool,
                x.tier,
                x.requests,
                x.prompt_tokens,
                x.generation_tokens,
                f"{x.kv_token_seconds:.3f}",
                f"{x.memory_gib_hours:.6f}",
                format_micros(x.kv_in_use_usd_micros),
                format_micros(x.static_usd_micros),
                format_micros(x.idle_usd_micros),
                format_micros(x.unmeasured_usd_micros),
                format_micros(x.total_usd_micros),
                x.total_usd_micros,
                cents,
                format_cents(cents),
                str(x.estimated).lower(),
            ]
        )
    return out.getvalue()
