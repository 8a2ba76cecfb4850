"""The native gateway contract: per (tenant, model, tier) counters and a context histogram.

``llm_tenant_requests_total``, ``llm_tenant_prompt_tokens_total`` and
``llm_tenant_generation_tokens_total`` are incremented when a request completes (a failed request never
completes). ``llm_tenant_kv_token_seconds_total`` accumulates continuously: its value at a scrape is the exact
integral of the tokens the group holds in KV up to that instant, in-flight requests included (and requests
that later fail: their memory was pinned).
``llm_tenant_request_context_tokens`` observes prompt + output per completed request, labelled by tenant and
model only: its buckets are the tiers (see ``buckets.context_histogram_bounds`` for why each bound is the
tier boundary - 1), so a tier label would make every bucket of a series equal.

A series appears from the first scrape at or after its group's first admission, as a client library
creates a labelled child on first use; its counters count from 0 at the simulation's start.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import context_histogram_bounds
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.counters import Births, CounterBank, HistogramBank
from attribution.sim.exposition import Family, HistogramRows, Rows, format_labels, python_float
from attribution.sim.integrate import integrate_tokens

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


class GatewayBuilder:
    def __init__(self, context: SimContext, target: int) -> None:
        spec = context.spec
        self.context, self.target = context, target
        self.n_tiers = context.n_tiers
        self.n_groups = len(spec.tenants) * self.n_tiers
        served = {pool.name: pool.served_model_name for pool in spec.pools}
        names = context.tier_names
        self.tenant_labels = [
            format_labels((("tenant", t.name), ("model", served[t.pool]))) for t in spec.tenants
        ]
        self.group_labels = [
            f'{self.tenant_labels[g // self.n_tiers]},tier="{names[g % self.n_tiers]}"'
            for g in range(self.n_groups)
        ]
        self.group_targets = [target] * self.n_groups
        self.tenant_targets = [target] * len(spec.tenants)
        self.banks = {name: CounterBank() for name, _ in COUNTERS}
        self.births, self.tenant_births = Births(), Births()
        self.bounds = context_histogram_bounds(context.tier_boundaries_tokens)
        self.histogram = HistogramBank(self.bounds)
        self.les = [python_float(b) for b in self.bounds] + ["+Inf"]

    def families(self, chunk: Chunk) -> list[Family]:
        pieces, done, s = chunk.pieces, chunk.completions, chunk.scrapes
        n = self.n_groups
        born = self.births.update(pieces.start, pieces.group, n)
        self.tenant_births.update(pieces.start, pieces.group // self.n_tiers, n // self.n_tiers)
        edges = np.concatenate([[chunk.begin], s, [chunk.end]])
        cells = integrate_tokens(pieces, pieces.group, n, edges)
        kv_bank = self.banks["llm_tenant_kv_token_seconds"]
        if n > kv_bank.carry.size:
            kv_bank.carry = np.concatenate([kv_bank.carry, np.zeros(n - kv_bank.carry.size)])
        # One cumulative sum for the scrapes and the carry, so the counter never steps back by an ulp at a
        # chunk boundary (a reset-aware reader would take that for a counter reset).
        running = kv_bank.carry[:n, None] + np.cumsum(cells, axis=1)
        kv = running[:, :-1]
        kv_bank.carry[:n] = running[:, -1]
        f = np.float64
        values = {
            "llm_tenant_requests": self._count("llm_tenant_requests", chunk, None),
            "llm_tenant_prompt_tokens": self._count("llm_tenant_prompt_tokens", chunk, done.prompt.astype(f)),
            "llm_tenant_generation_tokens": self._count(
                "llm_tenant_generation_tokens", chunk, done.output.astype(f)
            ),
            "llm_tenant_kv_token_seconds": kv,
        }
        rows = np.flatnonzero(born < chunk.end)
        present = s[None, :] >= born[rows, None]
        families = [
            Family(name, "counter", help_text, [Rows(
                f"{name}_total", self.group_labels, self.group_targets, values[name][rows], rows, present)])
            for name, help_text in COUNTERS
        ]  # fmt: skip
        if self.context.include_histograms:
            families.append(self._histogram(chunk))
        return families

    def _count(self, name: str, chunk: Chunk, weights: np.ndarray | None) -> np.ndarray:
        done = chunk.completions
        values = self.banks[name].values(chunk.scrapes, done.finish, done.group, self.n_groups, weights)
        return np.rint(values).astype(np.int64)

    def _histogram(self, chunk: Chunk) -> Family:
        done = chunk.completions
        n_profiles = self.n_groups // self.n_tiers
        context = (done.prompt + done.output).astype(np.float64)
        cumulative, sums = self.histogram.values(
            chunk.scrapes, done.finish, done.group // self.n_tiers, n_profiles, context
        )
        born = self.tenant_births.born[:n_profiles]
        rows = np.flatnonzero(born < chunk.end)
        present = chunk.scrapes[None, :] >= born[rows, None]
        histogram = HistogramRows(
            HISTOGRAM[0],
            self.tenant_labels,
            self.tenant_targets,
            self.les,
            cumulative[rows],
            sums[rows],
            rows,
            present,
        )
        return Family(HISTOGRAM[0], "histogram", HISTOGRAM[1], [histogram])
