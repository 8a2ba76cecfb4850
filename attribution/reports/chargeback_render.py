"""Renderings of a chargeback: a rich table for people (money as ``7,103.04``), CSV and JSON for machines
(money as ``7103.04``)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from functools import partial

from rich.console import Console
from rich.table import Table

from attribution.model.money import format_cents
from attribution.reports.cells import CsvWriter
from attribution.reports.chargeback import Chargeback
from attribution.reports.period_statement import Statement
from attribution.reports.statement_html import money
from attribution.reports.statement_views import cents_half_even
from attribution.reports.tiers import TierCost
from attribution.timeutil import iso

CSV_COLUMNS = [
    "tenant",
    "requests",
    "prompt_tokens",
    "generation_tokens",
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
    "estimated",
]


def to_csv(cb: Chargeback) -> str:
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(["window_start", "window_end", *CSV_COLUMNS])
    for t in cb.tenants:
        writer.writerow(
            [
                iso(cb.start),
                iso(cb.end),
                t.tenant,
                t.requests,
                t.prompt_tokens,
                t.generation_tokens,
                f"{t.memory_gib_hours:.3f}",
                format_cents(t.kv_in_use_cents),
                format_cents(t.static_cents),
                format_cents(t.idle_cents),
                format_cents(t.idle_cold_cents),
                format_cents(t.idle_warm_cents),
                format_cents(t.kv_headroom_cents),
                format_cents(t.unmeasured_cents),
                format_cents(t.recovery_cents),
                format_cents(t.total_cents),
                t.total_usd_micros,
                str(t.estimated).lower(),
            ]
        )
    return out.getvalue()


def to_json(cb: Chargeback) -> str:
    return json.dumps(cb.to_dict(), indent=2, sort_keys=True)


def to_table(cb: Chargeback, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"Chargeback {iso(cb.start)} to {iso(cb.end)} ({cb.currency})",
        caption=(
            f"{cb.status}{f' (sha256 {cb.content_hash[:16]}…)' if cb.content_hash else ''}; "
            f"cluster cost {money(cents_half_even(cb.cluster_cost_usd_micros))} {cb.currency}; "
            f"{cb.intervals_attributed:,}/{cb.intervals_in_window:,} intervals attributed"
            + ("" if cb.complete else " (not complete: partial, not final)")
        ),
    )
    for name in ("tenant", "requests", "memory GiB-h", "KV in use", "static share", "idle share"):
        table.add_column(name, justify="left" if name == "tenant" else "right")
    for name in ("cold", "warm", "headroom", "unmeasured", "recovery"):
        table.add_column(name, justify="right")
    table.add_column("total", justify="right", style="bold")
    for t in cb.tenants:
        table.add_row(
            t.tenant + (" *" if t.estimated else ""),
            f"{t.requests:,}",
            f"{t.memory_gib_hours:,.1f}",
            money(t.kv_in_use_cents),
            money(t.static_cents),
            money(t.idle_cents),
            money(t.idle_cold_cents),
            money(t.idle_warm_cents),
            money(t.kv_headroom_cents),
            money(t.unmeasured_cents),
            money(t.recovery_cents),
            money(t.total_cents),
        )
    table.add_section()
    table.add_row(
        "total",
        f"{sum(t.requests for t in cb.tenants):,}",
        f"{sum(t.memory_gib_hours for t in cb.tenants):,.1f}",
        *(
            money(sum(getattr(t, f"{c}_cents") for t in cb.tenants))
            for c in (
                "kv_in_use",
                "static",
                "idle",
                "idle_cold",
                "idle_warm",
                "kv_headroom",
                "unmeasured",
                "recovery",
            )
        ),
        money(cb.total_cents),
    )
    console.print(table)


def statement_table(statement: Statement, console: Console | None = None) -> None:
    """Per tenant: usage and corrections in the billing currency, from the statement's rounded lines."""
    console = console or Console()
    per_tenant: dict[str, list[int]] = {}
    for line, minor in zip(statement.lines, statement.line_billing_minor, strict=True):
        cell = per_tenant.setdefault(line.tenant, [0, 0])
        cell[0 if line.charge_class == "usage" else 1] += minor
    caption = f"sha256 {statement.content_hash}" if statement.content_hash else "provisional: not closed"
    if statement.rate_effective_from is not None:
        caption += f"; 1 USD = {statement.exchange_rate} {statement.billing_currency}"
        caption += f" (rate from {iso(statement.rate_effective_from)})"
    table = Table(
        title=f"Statement {statement.period} ({statement.status}, {statement.billing_currency})",
        caption=caption,
    )
    for name in ("tenant", "usage", "corrections", "total"):
        table.add_column(name, justify="left" if name == "tenant" else "right")
    amount = partial(_minor, exponent=statement.billing_exponent)
    for tenant, (usage, corrections) in sorted(per_tenant.items()):
        table.add_row(tenant, amount(usage), amount(corrections), amount(usage + corrections))
    table.add_section()
    table.add_row("total", "", "", amount(statement.total_billing_minor or 0))
    console.print(table)


def _minor(value: int, exponent: int) -> str:
    """Minor units with thousands separators and the currency's decimals: 123456 (2) is 1,234.56."""
    return f"{Decimal(value).scaleb(-exponent):,.{exponent}f}"


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def tiers_table(tiers: list[TierCost], console: Console | None = None) -> None:
    """Cost per request and per 1M tokens by context tier, beside memory-time per request: the why."""
    console = console or Console()
    table = Table(title="Cost by context tier (prompt + generated tokens)")
    for name in ("tier", "requests", "GiB-h per request", "USD per request", "USD per 1M tokens", "total"):
        table.add_column(name, justify="left" if name == "tier" else "right")
    for t in tiers:
        table.add_row(
            t.tier,
            f"{t.requests:,}",
            _fmt(t.gib_hours_per_request, ",.5f"),
            _fmt(t.usd_per_request, ",.5f"),
            _fmt(t.usd_per_million_tokens, ",.2f"),
            money(t.total_cents),
        )
    console.print(table)


def tiers_csv(tiers: list[TierCost]) -> str:
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(
        [
            "tier",
            "requests",
            "tokens",
            "memory_gib_hours",
            "usd_per_request",
            "usd_per_million_tokens",
            "total_usd",
        ]
    )
    for t in tiers:
        writer.writerow(
            [
                t.tier,
                t.requests,
                t.tokens,
                f"{t.memory_gib_hours:.3f}",
                _fmt(t.usd_per_request, ".6f"),
                _fmt(t.usd_per_million_tokens, ".4f"),
                format_cents(t.total_cents),
            ]
        )
    return out.getvalue()
