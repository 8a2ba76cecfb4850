"""OpenTelemetry GenAI metrics of an Envoy AI Gateway (v1.1), as an OTel collector's Prometheus exporter
serves them: names and labels translated the default way (dots to underscores, ``s`` to ``_seconds``,
``{token}`` adds nothing), label pairs sorted and ``le`` last as client_golang writes them, numbers in Go's
spelling (``le="1"``, ``le="1e+06"``).

Instruments, observed per completed request at the gateway: ``gen_ai.client.token.usage`` (``{token}``,
``gen_ai.token.type`` = input | output), ``gen_ai.server.request.duration`` (s, from the gateway's arrival;
failed requests too, with ``error.type="_OTHER"``), ``gen_ai.server.time_to_first_token`` and
``gen_ai.server.time_per_output_token`` (s). Attributes: ``gen_ai.operation.name="chat"``,
``gen_ai.provider.name="openai"`` (the OpenAI-compatible backend schema), ``gen_ai.original.model``,
``gen_ai.request.model``, ``gen_ai.response.model``, the tenant as ``tenant_id`` (Envoy AI Gateway's
``metricsRequestHeaderAttributes: "x-tenant-id:tenant.id"``) and the scope ``otel_scope_name``.

Temporality is cumulative and the SDK pushes every ``otel_export_interval_seconds``: a scrape shows the values
of the last export at or before it, and a series appears after the first export that follows its first
observation. The collector's ``target_info`` and resource labels are not reproduced.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import (
    OTEL_DURATION_SECONDS,
    OTEL_TOKEN_USAGE,
    OTEL_TPOT_SECONDS,
    OTEL_TTFT_SECONDS,
)
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.counters import Births, HistogramBank
from attribution.sim.exposition import Family, HistogramRows, format_labels, go_float
from attribution.sim.workload import FloatArray, IntArray

SCOPE = "envoyproxy/ai-gateway"
TOKEN_USAGE = ("gen_ai_client_token_usage", "Number of tokens processed.", OTEL_TOKEN_USAGE)
DURATION = ("gen_ai_server_request_duration_seconds", "Generative AI server request duration such as "
            "time-to-last byte or last output token.", OTEL_DURATION_SECONDS)  # fmt: skip
TTFT = ("gen_ai_server_time_to_first_token_seconds",
        "Time to generate first token for successful responses.", OTEL_TTFT_SECONDS)  # fmt: skip
TPOT = ("gen_ai_server_time_per_output_token_seconds",
        "Time per output token generated after the first token for successful responses.",
        OTEL_TPOT_SECONDS)  # fmt: skip


class _Deferred:
    """Observations waiting for the export that makes them visible (they may fall in a later chunk)."""

    def __init__(self) -> None:
        self.visible = np.zeros(0)
        self.rows = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0)

    def take(
        self, visible: FloatArray, rows: IntArray, values: FloatArray, end: float
    ) -> tuple[FloatArray, IntArray, FloatArray]:
        """Add new observations; return those visible before ``end``, keep the rest."""
        v = np.concatenate([self.visible, visible])
        r = np.concatenate([self.rows, rows])
        x = np.concatenate([self.values, values])
        now = v < end
        self.visible, self.rows, self.values = v[~now], r[~now], x[~now]
        return v[now], r[now], x[now]


class OtelBuilder:
    def __init__(self, context: SimContext, target: int) -> None:
        spec = context.spec
        self.context, self.target = context, target
        self.n_tiers = context.n_tiers
        self.interval = float(spec.exporters.otel_export_interval_seconds)
        served = {pool.name: pool.served_model_name for pool in spec.pools}
        self.n = len(spec.tenants)

        def labels(tenant: int, extra: tuple[tuple[str, str], ...] = ()) -> str:
            model = served[spec.tenants[tenant].pool]
            pairs = (
                ("gen_ai_operation_name", "chat"),
                ("gen_ai_original_model", model),
                ("gen_ai_provider_name", "openai"),
                ("gen_ai_request_model", model),
                ("gen_ai_response_model", model),
                ("otel_scope_name", SCOPE),
                ("tenant_id", spec.tenants[tenant].name),
                *extra,
            )
            return format_labels(tuple(sorted(pairs)))

        plain = [labels(t) for t in range(self.n)]
        by_type = [
            labels(t, (("gen_ai_token_type", kind),)) for kind in ("input", "output") for t in range(self.n)
        ]
        failed = [labels(t, (("error_type", "_OTHER"),)) for t in range(self.n)]
        self.labels = {TOKEN_USAGE[0]: by_type, DURATION[0]: plain + failed, TTFT[0]: plain, TPOT[0]: plain}
        self.targets = {name: [target] * len(labels) for name, labels in self.labels.items()}
        self.les = {
            name: [go_float(b) for b in bounds] + ["+Inf"]
            for name, _, bounds in (TOKEN_USAGE, DURATION, TTFT, TPOT)
        }
        self.banks = {name: HistogramBank(bounds) for name, _, bounds in (TOKEN_USAGE, DURATION, TTFT, TPOT)}
        self.deferred = {name: _Deferred() for name in self.banks}
        self.births = {name: Births() for name in self.banks}

    def _visible(self, times: FloatArray) -> FloatArray:
        """The first export strictly after each observation (exports every interval from the window start)."""
        return (np.floor(times / self.interval) + 1.0) * self.interval

    def families(self, chunk: Chunk) -> list[Family]:
        done, n = chunk.completions, self.n
        profile = done.group // self.n_tiers
        failed = chunk.failure_group // self.n_tiers
        output = done.output.astype(np.float64)
        multi = output > 1
        cat = np.concatenate
        failed_duration = chunk.failure_time - chunk.failure_gw_arrival
        observations = {  # (when, series, value)
            TOKEN_USAGE[0]: (cat([done.finish, done.finish]), cat([profile, profile + n]),
                             cat([done.prompt, done.output]).astype(np.float64)),
            DURATION[0]: (cat([done.finish, chunk.failure_time]), cat([profile, failed + n]),
                          cat([done.finish - done.gw_arrival, failed_duration])),
            TTFT[0]: (done.finish, profile, done.first_token - done.gw_arrival),
            TPOT[0]: (done.finish[multi], profile[multi],
                      (done.finish - done.first_token)[multi] / (output[multi] - 1.0)),
        }  # fmt: skip
        families = []
        for name, help_text, _ in (TOKEN_USAGE, DURATION, TTFT, TPOT):
            times, rows, values = observations[name]
            n_rows = len(self.labels[name])
            visible, rows, values = self.deferred[name].take(self._visible(times), rows, values, chunk.end)
            born = self.births[name].update(visible, rows, n_rows)
            # An observation made visible at export x counts at scrapes s >= x: pass the float just below x.
            cumulative, sums = self.banks[name].values(
                chunk.scrapes, np.nextafter(visible, -np.inf), rows, n_rows, values
            )
            keep = np.flatnonzero(born < chunk.end)
            present = chunk.scrapes[None, :] >= born[keep, None]
            histogram = HistogramRows(
                name,
                self.labels[name],
                self.targets[name],
                self.les[name],
                cumulative[keep],
                sums[keep],
                keep,
                present,
            )
            families.append(Family(name, "histogram", help_text, [histogram]))
        return families
