"""Per-tenant usage from the gateway's counters (the native contract in docs/gateway-contract.md).

Counters are read raw at each interval boundary and differenced here, not with ``increase()``: increase
extrapolates to the window edges and gives fractional requests, while differencing exact boundary values
keeps every token and token-second, and sums across intervals telescope to the window total. A decrease
is a counter reset (an engine or gateway restart): the new value counts from zero, never negative.
A series absent at the first boundary of a run and present later is new and counts from zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attribution.collectors.labels import UNMAPPED_POOL, pool_for_model, tenant_of, tier_of
from attribution.collectors.prom import PromClient, Series, utc_from_seconds
from attribution.config import Settings

SOURCE = "gateway"
COUNTERS = {
    "requests": "llm_tenant_requests_total",
    "prompt_tokens": "llm_tenant_prompt_tokens_total",
    "generation_tokens": "llm_tenant_generation_tokens_total",
    "kv_token_seconds": "llm_tenant_kv_token_seconds_total",
}

SeriesKey = tuple[tuple[str, str], ...]


def increases(series: Series, first_ts: int, step: int) -> dict[int, float]:
    """Increase per interval start (unix s) from raw boundary values, reset-aware."""
    out: dict[int, float] = {}
    previous: float | None = None
    for ts, value in series.points:
        if previous is None:
            if ts > first_ts:  # new series: it counted from zero
                out[ts - step] = value
        else:
            out[ts - step] = value - previous if value >= previous else value
        previous = value
    return out


def collect_gateway(
    client: PromClient, settings: Settings, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], dict[datetime, int]]:
    step = settings.interval_seconds
    first_ts = int(start.timestamp())
    merged: dict[tuple[int, str, str, str], dict[str, float]] = {}
    for field, metric in COUNTERS.items():
        for series in client.range_query(metric, start, end, step):
            key = _key(settings, series.labels)
            for ts, inc in increases(series, first_ts, step).items():
                row = merged.setdefault((ts, *key), {})
                row[field] = row.get(field, 0.0) + inc
    rows: list[dict[str, Any]] = []
    seen: dict[datetime, int] = {}
    for (ts, pool, tenant, tier), values in sorted(merged.items()):
        interval_start = utc_from_seconds(ts)
        seen[interval_start] = seen.get(interval_start, 0) + 1
        rows.append(
            {
                "interval_start": interval_start,
                "pool": pool,
                "tenant": tenant,
                "tier": tier,
                "requests": round(values.get("requests", 0.0)),
                "prompt_tokens": round(values.get("prompt_tokens", 0.0)),
                "generation_tokens": round(values.get("generation_tokens", 0.0)),
                "kv_token_seconds": values.get("kv_token_seconds", 0.0),
            }
        )
    return rows, seen


def _key(settings: Settings, labels: Mapping[str, str]) -> tuple[str, str, str]:
    pool = pool_for_model(settings, labels.get("model"))
    return (
        pool.name if pool else UNMAPPED_POOL,
        tenant_of(settings, labels),
        tier_of(settings, labels),
    )
