"""What each console page shows, from the report functions the API serves (so figures agree to the cent).

Tables and charts are made from the same integer cents: a chart's hover text (the SVG ``<title>`` of each
bar) is formatted by :func:`money` from the cents the table beside it prints, so they read identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attribution.model.statement import COMPONENTS, USAGE
from attribution.model.vocabulary import IDLE, RECOVERY, RESERVED_NAMES, UNMEASURED
from attribution.reports.charts import COLOURS, COMPONENT_NAMES
from attribution.reports.monthly import StatementReport
from attribution.reports.pools import PoolSummary
from attribution.reports.statement_html import money
from attribution.reports.statement_views import Row, apportion_cents, cents_half_even
from attribution.reports.svg import stacked_bars
from attribution.reports.tiers import TierCost

#: The pool cost structure in the order of ``PoolSummary``'s money fields (its ``cost`` is their sum).
POOL_PARTS = ("kv_in_use", "kv_free", "static", "idle", "unmeasured", "recovery")
POOL_PART_NAMES = ("KV in use", "KV free", "static", "idle", "unmeasured", "recovery")
POOL_COLOURS = (
    COLOURS["kv_in_use"],
    "#56B4E9",
    COLOURS["static"],
    COLOURS["idle"],
    COLOURS["unmeasured"],
    COLOURS["recovery"],
)


def cents_text(value: float) -> str:
    """A chart value (dollars as a float made from integer cents) printed exactly as the table prints it."""
    return money(round(value * 100))


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    cents: int
    note: str = ""


def headline(r: StatementReport) -> tuple[list[Figure], list[Figure]]:
    """The overview's figures, and the usage by component. A month not yet fully attributed has no bill
    yet: its cluster cost is 'so far', so no reader takes a partial figure for the month's bill."""
    bill = "the bill for the period" if r.coverage.complete else "cluster cost so far (month not complete)"
    usage = [x for x in r.lines if x.charge_class == USAGE]  # corrections have their own figure
    tenants = sum(x.total_cents for x in usage if x.tenant not in RESERVED_NAMES)
    platform: dict[str, int] = {}
    for x in usage:
        if x.tenant in RESERVED_NAMES:
            platform[x.tenant] = platform.get(x.tenant, 0) + x.total_cents
    main: list[Figure] = []
    if r.tenant is None:
        main.append(Figure(bill, r.cluster_cost_cents, "the GPUs' price for the period"))
        main.append(Figure("attributed to tenants", tenants, "their usage and their shares of idle"))
        main.append(Figure("idle kept by the platform", platform.get(IDLE, 0), f"on {IDLE}"))
        main.append(Figure("unmeasured", platform.get(UNMEASURED, 0), "GPUs without telemetry"))
        main.append(Figure("recovery kept by the platform", platform.get(RECOVERY, 0), f"on {RECOVERY}"))
        kept = sum(platform.get(name, 0) for name in (IDLE, UNMEASURED, RECOVERY))
        other = r.usage.total_cents - tenants - kept
        if other:
            main.append(Figure("other platform lines", other, ", ".join(sorted(platform))))
        main.append(Figure("not attributed (bill minus usage)", r.cluster_cost_cents - r.usage.total_cents))
    else:
        main.append(Figure(f"usage of {r.tenant}", r.usage.total_cents))
    main.append(Figure("corrections of closed periods", r.corrections.total_cents, "billed in this period"))
    main.append(Figure("statement total", r.total.total_cents, "usage plus corrections"))
    parts = [Figure(COMPONENT_NAMES[c], r.usage.component_cents[i]) for i, c in enumerate(COMPONENTS)]
    return main, parts


def coverage_line(r: StatementReport) -> str:
    c = r.coverage
    share = 100 * c.intervals_attributed / c.intervals_in_period if c.intervals_in_period else 0.0
    return (
        f"{c.intervals_attributed:,} of {c.intervals_in_period:,} intervals attributed ({share:.1f}%); "
        f"cost resting on estimated KV usage {money(cents_half_even(c.estimated_usd_micros))}"
    )


def component_chart(chart_id: str, title: str, rows: Sequence[Row], x_label: str, currency: str) -> str:
    """One stacked bar per row by component, from the rows' cents (the table's figures)."""
    shown = [(i, c) for i, c in enumerate(COMPONENTS) if any(r.component_cents[i] for r in rows)]
    return stacked_bars(
        chart_id,
        title,
        f"{title}: each bar is a row of the table below, stacked by cost component; hover for the amount.",
        [" / ".join(r.key) for r in rows],
        [(COMPONENT_NAMES[c], [r.component_cents[i] / 100 for r in rows]) for i, c in shown],
        f"cost ({currency})",
        x_label,
        cents_text,
        [COLOURS[c] for _, c in shown],
    )


@dataclass(frozen=True, slots=True)
class PoolRow:
    summary: PoolSummary
    part_cents: tuple[int, ...]
    """KV in use, KV free, static, idle, unmeasured, recovery in cents, summing to ``cost_cents``."""


def pool_rows(pools: Sequence[PoolSummary]) -> list[PoolRow]:
    """Each pool's cost structure in cents, apportioned from its micro-USD to the pool's rounded cents."""
    out = []
    for p in pools:
        micros = [getattr(p, f"{part}_usd_micros") for part in POOL_PARTS]
        out.append(PoolRow(p, tuple(apportion_cents(micros, p.cost_cents))))
    return out


def pool_chart(rows: Sequence[PoolRow], currency: str) -> str:
    shown = [i for i in range(len(POOL_PARTS)) if any(r.part_cents[i] for r in rows)]
    return stacked_bars(
        "chart-pools",
        "Cost structure of each pool",
        "Each pool's cost: KV cache in use, KV cache reserved but free, static memory (weights, runtime), "
        "idle capacity, unmeasured cost and recovery incidents; hover for the amount.",
        [r.summary.pool for r in rows],
        [(POOL_PART_NAMES[i], [r.part_cents[i] / 100 for r in rows]) for i in shown],
        f"cost ({currency})",
        "pool",
        cents_text,
        [POOL_COLOURS[i] for i in shown],
    )


def tier_chart(tiers: Sequence[TierCost], currency: str) -> str:
    """Cost per 1M tokens per tier, printed to the cent as the table prints it."""
    priced = [t for t in tiers if t.exact_usd_per_million_tokens is not None]
    return stacked_bars(
        "chart-tiers",
        "Cost per 1M tokens by context tier",
        "The attributed cost of each tier over the prompt and generated tokens it processed.",
        [t.tier for t in priced],
        [("cost per 1M tokens", [float(per_million_cents(t)) / 100 for t in priced])],
        f"{currency} per 1M tokens",
        "context tier",
        cents_text,
    )


def per_million_cents(t: TierCost) -> int:
    """The table's cost per 1M tokens, in cents (half-even from the exact figure)."""
    exact = t.exact_usd_per_million_tokens
    return 0 if exact is None else cents_half_even(int(exact * 1_000_000))


def per_request_text(t: TierCost) -> str:
    exact = t.exact_usd_per_request
    return "" if exact is None else f"{exact:.6f}"
