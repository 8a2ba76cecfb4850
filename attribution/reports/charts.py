"""The statement's five charts, from a ``StatementReport``: what each shows is in docs/reports.md."""

from __future__ import annotations

from collections import defaultdict

from attribution.model.statement import COMPONENTS
from attribution.reports.monthly import StatementReport
from attribution.reports.svg import PALETTE, line_chart, stacked_bars

#: Tiers that start at or above this many tokens of context count as long context in the pool chart.
LONG_CONTEXT_TOKENS = 32 * 1024
COMPONENT_NAMES = {
    "kv_in_use": "KV cache in use",
    "static": "static share (weights, runtime)",
    "idle": "idle share",
    "unmeasured": "unmeasured",
    "recovery": "recovery (incidents)",
}


#: one colour per concept across charts: KV in use, static, idle, unmeasured, long context, recovery
COLOURS = {
    "kv_in_use": PALETTE[0],
    "static": PALETTE[2],
    "idle": PALETTE[3],
    "unmeasured": PALETTE[7],
    "long_context": PALETTE[1],
    "recovery": PALETTE[5],
}


def usd(value_usd: float) -> str:
    """Axis and tooltip text; tables carry exact cents."""
    return f"${value_usd:,.2f}" if abs(value_usd) < 1e5 else f"${value_usd / 1000:,.0f}k"


def _cost_by_tenant(report: StatementReport) -> str:
    tenants = [r.key[0] for r in report.tenants]
    shown = [(i, c) for i, c in enumerate(COMPONENTS) if any(r.component_cents[i] for r in report.tenants)]
    series = [(COMPONENT_NAMES[c], [r.component_cents[i] / 100 for r in report.tenants]) for i, c in shown]
    return stacked_bars(
        "chart-tenants",
        f"Cost by tenant, {report.period}",
        "Each tenant's charge for the period, stacked by component: KV cache in use, its share of static "
        "memory (weights and runtime), its share of idle capacity, unmeasured cost and recovery incidents.",
        tenants,
        series,
        f"cost ({report.currency})",
        "tenant",
        usd,
        [COLOURS[c] for _, c in shown],
    )


def long_context_tiers(report: StatementReport) -> set[str]:
    lower = [0, *report.tier_boundaries_tokens]
    return {name for name, lo in zip(report.tier_names, lower, strict=True) if lo >= LONG_CONTEXT_TOKENS}


def pool_structure(report: StatementReport) -> dict[str, dict[str, int]]:
    """Per pool, micro-USD in: tokens (KV in use, short context), long context (KV in use, long tiers),
    memory (static: weights and runtime), fixed/idle (idle shares), unmeasured and recovery (the pool down
    or reloading while its GPUs are paid)."""
    long_tiers = long_context_tiers(report)
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in report.lines:
        cell = out[line.pool]
        kv = "long context" if line.tier in long_tiers else "tokens (KV in use)"
        cell[kv] += line.kv_in_use_usd_micros
        cell["memory (static)"] += line.static_usd_micros
        cell["fixed / idle"] += line.idle_usd_micros
        cell["unmeasured"] += line.unmeasured_usd_micros
        cell["recovery"] += line.recovery_usd_micros
    return {pool: dict(parts) for pool, parts in sorted(out.items())}


POOL_PARTS = {
    "tokens (KV in use)": COLOURS["kv_in_use"],
    "long context": COLOURS["long_context"],
    "memory (static)": COLOURS["static"],
    "fixed / idle": COLOURS["idle"],
    "unmeasured": COLOURS["unmeasured"],
    "recovery": COLOURS["recovery"],
}


def _pools(report: StatementReport) -> str:
    structure = pool_structure(report)
    pools = list(structure)
    shown = [part for part in POOL_PARTS if any(structure[p].get(part, 0) for p in pools)]
    series = [(part, [structure[p].get(part, 0) / 1e6 for p in pools]) for part in shown]
    return stacked_bars(
        "chart-pools",
        "Cost structure of each pool",
        "Each pool's cost split into the KV cache in use by short-context requests (tokens), by long-context "
        f"requests (tiers from {LONG_CONTEXT_TOKENS // 1024}k tokens), static memory (weights and runtime), "
        "idle capacity shared out, unmeasured cost, and recovery incidents.",
        pools,
        series,
        f"cost ({report.currency})",
        "pool",
        usd,
        [POOL_PARTS[part] for part in shown],
    )


def tier_cost_per_million(report: StatementReport) -> list[tuple[str, float]]:
    tokens: dict[str, int] = defaultdict(int)
    cost: dict[str, int] = defaultdict(int)
    for line in report.lines:
        tokens[line.tier] += line.prompt_tokens + line.generation_tokens
        cost[line.tier] += line.total_usd_micros
    # micro-USD per token is numerically USD per million tokens
    return [(t, cost[t] / tokens[t]) for t in report.tier_names if tokens.get(t)]


def _tiers(report: StatementReport) -> str:
    data = tier_cost_per_million(report)
    return stacked_bars(
        "chart-tiers",
        "Cost per 1M tokens by context tier",
        "The attributed cost of each context tier divided by the prompt and generated tokens it processed: "
        "long-context requests hold more KV cache for longer, so each token costs more.",
        [t for t, _ in data],
        [("cost per 1M tokens", [v for _, v in data])],
        f"{report.currency} per 1M tokens",
        "context tier (prompt + generated tokens)",
        usd,
    )


def _idle(report: StatementReport) -> str:
    s = report.series
    return line_chart(
        "chart-idle",
        "Idle share and utilisation over the period",
        f"Per {s.bucket}: the share of the cluster's cost that was idle capacity, the mean GPU utilisation "
        "reported by dcgm-exporter, and the share of KV cache capacity in use.",
        s.labels,
        [
            ("idle share of cost", s.idle_share_percent),
            ("GPU utilisation", s.gpu_util_percent),
            ("KV cache in use", s.kv_usage_percent),
        ],
        "percent (%)",
        f"{s.bucket} (UTC)",
        lambda v: f"{v:.0f}%",
        y_max=100.0,
    )


def _memory(report: StatementReport) -> str:
    s = report.series
    return stacked_bars(
        "chart-memory",
        "Memory-time by context tier",
        f"Per {s.bucket}: GiB-hours of KV cache held by requests of each context tier.",
        s.labels,
        list(s.memory_gib_hours_by_tier.items()),
        f"memory-time (GiB-hours per {s.bucket})",
        f"{s.bucket} (UTC)",
        lambda v: f"{v:,.1f}",
    )


def statement_charts(report: StatementReport) -> list[str]:
    return [_cost_by_tenant(report), _pools(report), _tiers(report), _idle(report), _memory(report)]
