"""The native gateway contract: per (tenant, model, tier) counters and a context histogram.

``llm_tenant_requests_total``, ``llm_tenant_prompt_tokens_total`` and
``llm_tenant_generation_tokens_total`` are incremented when a request completes.
``llm_tenant_kv_token_seconds_total`` accumulates continuously: its value at a scrape is the exact
integral of the tokens the group holds in KV up to that instant, in-flight requests included.
``llm_tenant_request_context_tokens`` observes prompt + output per completed request with one bucket per
tier (see ``buckets.context_histogram_bounds`` for why the bounds are boundary - 1).

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
    req, t = run.requests, run.scrape_seconds
    group = run.tenant_tier_group()
    kv = kv_token_seconds_at_scrapes(run)
    bounds = context_histogram_bounds(run.tier_boundaries_tokens)
    counters: dict[str, list[Series]] = {name: [] for name, _ in COUNTERS}
    histograms: list[Series] = []
    for g in np.unique(group).tolist():
        mine = group == g
        first = int(np.searchsorted(t, req.admit_seconds[mine].min(), side="left"))
        if first >= run.n_scrapes:
            continue
        tenant = run.spec.tenants[g // run.n_tiers]
        labels: Labels = (
            ("tenant", tenant.name),
            ("model", run.spec.pool(tenant.pool).served_model_name),
            ("tier", run.tier_names[g % run.n_tiers]),
            *GATEWAY_LABELS,
            ("namespace", run.spec.namespace),
            ("pod", GATEWAY_POD),
        )
        finish = req.finish_seconds[mine]
        values = {
            "llm_tenant_requests": cumulative_events(finish, t),
            "llm_tenant_prompt_tokens": cumulative_events(finish, t, _f(req.prompt_tokens[mine])),
            "llm_tenant_generation_tokens": cumulative_events(
                finish, t, _f(req.output_tokens[mine])
            ),
        }
        for name, series in values.items():
            ints = np.rint(series[first:]).astype(np.int64)
            counters[name].append(Series(f"{name}_total", labels, ints, first))
        counters["llm_tenant_kv_token_seconds"].append(
            Series("llm_tenant_kv_token_seconds_total", labels, kv[g, first:], first)
        )
        if run.include_histograms:
            context = _f(req.context_tokens[mine])
            cumulative, sums = cumulative_histogram(finish, context, bounds, t)
            histograms.extend(
                histogram_series(
                    HISTOGRAM[0], labels, bounds, cumulative[first:], sums[first:], first
                )
            )
    families = [Family(name, "counter", text, tuple(counters[name])) for name, text in COUNTERS]
    if run.include_histograms:
        families.append(Family(HISTOGRAM[0], "histogram", HISTOGRAM[1], tuple(histograms)))
    return families


def _f(values: np.ndarray) -> FloatArray:
    return values.astype(np.float64)
