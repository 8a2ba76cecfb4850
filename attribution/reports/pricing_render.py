"""The pricing-tier analysis for people (rich tables) and machines (JSON)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.reports.pricelist import PriceList
from attribution.reports.pricing import Priced, Subsidy, TierAnalysis, WhatIf, analyse_tiers, analyse_what_if
from attribution.reports.statement_html import money
from attribution.reports.statement_views import cents_half_even


def _price(value: Decimal) -> str:
    return f"{value:.4f}"


def tiers_table(a: TierAnalysis) -> Table:
    status = "provisional: period open" if a.provisional else "closed"
    table = Table(
        title=f"Pricing tiers {a.period} ({status}) under {a.price_list.name!r}"
        + (f", pool {a.pool}" if a.pool else ""),
        caption=f"{a.currency}; prices per 1M tokens (input/output); * a threshold falls inside the tier",
    )
    names = ("tier", "band from", "requests", "tokens in", "tokens out", "cost", "revenue", "margin")
    for name in (*names, "break-even in/out"):
        table.add_column(name, justify="left" if name == "tier" else "right")
    for t in [*a.tiers, a.unpriced, a.total]:
        be = t.break_even
        table.add_row(
            t.key[0] + (" *" if t.straddles_threshold else ""),
            f"{t.band.from_tokens:,}" if t.band else "",
            f"{t.requests:,}",
            f"{t.prompt_tokens:,}",
            f"{t.generation_tokens:,}",
            money(t.cost_cents),
            money(t.revenue_cents),
            money(t.margin_cents),
            f"{_price(be.input_usd_per_million)} / {_price(be.output_usd_per_million)}" if be else "",
        )
    return table


def tenants_table(rows: list[Priced], currency: str) -> Table:
    table = Table(title=f"Per tenant ({currency})")
    for name in ("tenant", "requests", "cost", "revenue", "margin"):
        table.add_column(name, justify="left" if name == "tenant" else "right")
    for t in rows:
        table.add_row(
            t.key[0],
            f"{t.requests:,}",
            money(t.cost_cents),
            money(t.revenue_cents),
            money(t.margin_cents),
        )
    return table


def subsidies_table(title: str, items: list[Subsidy]) -> Table:
    table = Table(title=title, caption="the gains of one cover the losses of the other")
    for name in ("from", "to", "USD"):
        table.add_column(name, justify="right" if name == "USD" else "left")
    for s in items:
        table.add_row(s.payer, s.receiver, money(cents_half_even(s.usd_micros)))
    return table


def compare_table(w: WhatIf) -> Table:
    table = Table(title=f"What-if: {w.baseline.price_list.name!r} against {w.scenario.price_list.name!r}")
    columns = ("tier", "revenue", "what-if revenue", "margin", "what-if margin", "margin change")
    for name in columns:
        table.add_column(name, justify="left" if name == "tier" else "right")
    for row in w.rows():
        table.add_row(row["tier"], *(money(v) for k, v in row.items() if k != "tier"))
    return table


def write_tiers(
    session: Session,
    settings: Settings,
    period: str,
    prices: PriceList,
    changed: PriceList | None,
    pool: str | None,
    fmt: str,
    console: Console,
) -> None:
    if changed is not None:
        w = analyse_what_if(session, settings, period, prices, changed, pool)
        a = w.baseline
    else:
        a = analyse_tiers(session, settings, period, prices, pool)
    if fmt == "json":
        body = w.to_dict() if changed is not None else a.to_dict()
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
        return
    console.print(tiers_table(a))
    console.print(tenants_table(a.tenants, a.currency))
    console.print(subsidies_table("Subsidies between tiers", a.tier_subsidies))
    console.print(subsidies_table("Subsidies between tenants", a.tenant_subsidies))
    if changed is not None:
        console.print(tiers_table(w.scenario))
        console.print(compare_table(w))
