"""The native gateway contract: per (tenant, model, tier) counters and a context histogram.

``llm_tenant_requests_total``, ``llm_tenant_prompt_tokens_total`` and
``llm_tenant_generation_tokens_total`` are incremented when a request completes.
``llm_tenant_kv_token_seconds_total`` accumulates continuously: its value at a scrape is the exact
integral of the tokens the group holds in KV up to that instant, in-flight requests included.
``llm_tenant_request_context_tokens`` observes prompt + output per completed request, labelled by tenant
and model only: its buckets are the tiers (see ``buckets.context_histogram_bounds`` for why each bound is
the tier boundary - 1), so a tier label would make every bucket of a series equal.

A series appears from the first scrape at or after its group's first admission, as a client library
creates a labelled child on first use; its counters count from 0 at the simulation's start.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import context_histogram_bounds
from attribution.sim.integrate import (
    cumulative_events,
    cumulative_histogram,
    integrate_tokens,
)
from attribution.sim.openmetrics import Family, Labels, Series, histogram_series
from attribution.sim.timeline import SimRun
from attribution.sim.workload import FloatArray

GATEWAY_LABELS: Labels = (("job", "gateway"), ("instance", "gateway:4000"))
GATEWAY_POD = "gateway-0"

COUNTERS: tuple[tuple[str, str], ...] = (
    ("llm_tenant_requests", "Requests completed, by tenant, served model and context tier."),
    ("llm_tenant_prompt_tokens", "Prompt tokens of completed requests."),
    ("llm_tenant_generation_tokens", "Generated tokens of completed requests."),
    (
        "llm_tenant_kv_token_seconds",
        "Integral of KV-cache tokens held over time (token-seconds), in-flight requests included.",
    ),
)
HISTOGRAM = (
    "llm_tenant_request_context_tokens",
    "Context tokens (prompt + output) per completed request; one bucket per context tier.",
)


def kv_token_seconds_at_scrapes(run: SimRun) -> FloatArray:
    """Per tenant x tier group (rows), the integral of held tokens from the simulation's start to each
    scrape (columns), computed on cells (-inf, t0), [t0, t1), ... and summed."""
    seg = run.segments
    n_groups = len(run.spec.tenants) * run.n_tiers
    first_edge = min(float(seg.start.min(initial=0.0)), float(run.scrape_seconds[0])) - 1.0
    edges = np.concatenate([[first_edge], run.scrape_seconds])
    group = run.tenant_tier_group()[seg.request]
    cells = integrate_tokens(seg, group, n_groups, edges)
    return np.cumsum(cells, axis=1)


def gateway_families(run: SimRun) -> list[Family]:
    families = _counter_families(run)
    if run.include_histograms:
        families.append(_context_histogram_family(run))
    return families


def _labels(run: SimRun, tenant_index: int, tier: int | None) -> Labels:
    tenant = run.spec.tenants[tenant_index]
    tier_label: Labels = () if tier is None else (("tier", run.tier_names[tier]),)
    return (
        ("tenant", tenant.name),
        ("model", run.spec.pool(tenant.pool).served_model_name),
        *tier_label,
        *GATEWAY_LABELS,
        ("namespace", run.spec.namespace),
        ("pod", GATEWAY_POD),
    )


def _first_scrape(run: SimRun, mine: np.ndarray) -> int:
    """Index of the first scrape at or after the group's first admission (may be n_scrapes)."""
    return int(np.searchsorted(run.scrape_seconds, run.requests.admit_seconds[mine].min()))


def _counter_families(run: SimRun) -> list[Family]:
    req, t = run.requests, run.scrape_seconds
    group = run.tenant_tier_group()
    kv = kv_token_seconds_at_scrapes(run)
    counters: dict[str, list[Series]] = {name: [] for name, _ in COUNTERS}
    for g in np.unique(group).tolist():
        mine = group == g
        first = _first_scrape(run, mine)
        if first >= run.n_scrapes:
            continue
        labels = _labels(run, g // run.n_tiers, g % run.n_tiers)
        finish = req.finish_seconds[mine]
        values = {
            "llm_tenant_requests": cumulative_events(finish, t),
            "llm_tenant_prompt_tokens": cumulative_events(finish, t, _f(req.prompt_tokens[mine])),
            "llm_tenant_generation_tokens": cumulative_events(finish, t, _f(req.output_tokens[mine])),
        }
        for name, series in values.items():
            ints = np.rint(series[first:]).astype(np.int64)
            counters[name].append(Series(f"{name}_total", labels, ints, first))
        counters["llm_tenant_kv_token_seconds"].append(
            Series("llm_tenant_kv_token_seconds_total", labels, kv[g, first:], first)
        )
    return [Family(name, "counter", text, tuple(counters[name])) for name, text in COUNTERS]


def _context_histogram_family(run: SimRun) -> Family:
    """One histogram per (tenant, model): its buckets are the tiers, so it carries no tier label."""
    req, t = run.requests, run.scrape_seconds
    bounds = context_histogram_bounds(run.tier_boundaries_tokens)
    series: list[Series] = []
    for tenant_index in np.unique(req.tenant).tolist():
        mine = req.tenant == tenant_index
        first = _first_scrape(run, mine)
        if first >= run.n_scrapes:
            continue
        when, context = req.finish_seconds[mine], _f(req.context_tokens[mine])
        cumulative, sums = cumulative_histogram(when, context, bounds, t)
        labels = _labels(run, tenant_index, None)
        series.extend(histogram_series(HISTOGRAM[0], labels, bounds, cumulative[first:], sums[first:], first))
    return Family(HISTOGRAM[0], "histogram", HISTOGRAM[1], tuple(series))


def _f(values: np.ndarray) -> FloatArray:
    return values.astype(np.float64)
