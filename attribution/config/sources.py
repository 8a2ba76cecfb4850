"""Where the telemetry comes from: Prometheus-API sources, the profiles that map canonical signals to
PromQL, the label names to read, and how collection walks, chunks and retries."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from attribution.config.types import StrictModel, UtcInstant, check_regexes
from attribution.sourceauth import SourceAccess


class CollectorName(StrEnum):
    """What a collector fills: GPU samples (dcgm), engine KV samples, per-tenant usage (gateway)."""

    GPU = "gpu"
    KV = "kv"
    GATEWAY = "gateway"


#: Canonical signals per collector: (required, optional). Each maps to PromQL in a source profile.
PROFILE_SIGNALS: dict[CollectorName, tuple[frozenset[str], frozenset[str]]] = {
    CollectorName.GPU: (
        frozenset({"fb_used_bytes"}),
        frozenset({"fb_free_bytes", "fb_reserved_bytes", "gpu_util_percent", "power_watts"}),
    ),
    CollectorName.KV: (
        frozenset({"kv_usage_ratio"}),
        frozenset({"kv_capacity_tokens", "cache_config_info", "requests_running", "requests_waiting"}),
    ),
    CollectorName.GATEWAY: (
        frozenset({"requests", "prompt_tokens", "generation_tokens"}),
        frozenset(
            {"kv_token_seconds", "latency_seconds_sum", "latency_seconds_count"}
            | {"ttft_seconds_sum", "ttft_seconds_count"}
        ),
    ),
}
#: Gateway signals are counters read raw and differenced reset-aware, so each must be a plain selector.
_SELECTOR = re.compile(r"^\s*[A-Za-z_:][A-Za-z0-9_:]*\s*(\{[^{}]*\})?\s*$|^\s*\{[^{}]+\}\s*$")


class LabelNames(StrictModel):
    """Label names tried in order (each also as ``exported_<name>``); unset means the profile's default.
    ``$tenant_label`` in a tenant list stands for ``tenants.label``."""

    tenant: list[str] | None = None
    model: list[str] | None = None
    tier: list[str] | None = None
    engine: list[str] | None = None
    engine_index: list[str] | None = None
    gpu_uuid: list[str] | None = None
    gpu_model: list[str] | None = None
    hostname: list[str] | None = None


class ProfileConfig(StrictModel):
    """A source profile: canonical signal -> PromQL. ``$window`` is the interval as a left-open range
    (``59999ms`` for 60 s, so Prometheus 2, 3 and VictoriaMetrics take the same samples)."""

    collector: CollectorName
    description: str = ""
    signals: dict[str, str]
    labels: LabelNames = LabelNames()

    @model_validator(mode="after")
    def _signals(self) -> Self:
        required, optional = PROFILE_SIGNALS[self.collector]
        if missing := required - set(self.signals):
            raise ValueError(f"{self.collector.value} profile lacks {', '.join(sorted(missing))}")
        if unknown := set(self.signals) - required - optional:
            raise ValueError(f"unknown signals {', '.join(sorted(unknown))} for {self.collector.value}")
        if self.collector is CollectorName.GATEWAY:
            for name, query in self.signals.items():
                if not _SELECTOR.match(query):
                    raise ValueError(f"signal {name}: a counter must be a plain selector, got {query!r}")
            if "kv_token_seconds" not in self.signals and not {
                "latency_seconds_sum",
                "latency_seconds_count",
            } <= set(self.signals):
                raise ValueError("without kv_token_seconds the estimator needs latency_seconds_sum/_count")
        return self


class SourceConfig(SourceAccess, StrictModel):
    """One Prometheus-API endpoint and the profiles (at most one per collector) to read from it; with
    credentials, headers and TLS when it wants them (:class:`~attribution.sourceauth.SourceAccess`)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
    url: str
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    profiles: list[str] = ["dcgm", "vllm", "native"]
    labels: LabelNames = LabelNames()
    accept_warnings: list[str] = []
    """Regular expressions of answer warnings to tolerate; any other warning makes the answer partial."""

    @field_validator("accept_warnings")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        check_regexes({str(i): p for i, p in enumerate(v)})
        return v

    @model_validator(mode="after")
    def _access(self) -> Self:
        self.check_access(self.url)
        return self


class RetryConfig(StrictModel):
    """Backoff on a source's transient failures: delays double from ``initial_delay_seconds`` up to
    ``max_delay_seconds`` (full jitter); after ``attempts`` the run fails and the watermark stays."""

    attempts: Annotated[int, Field(ge=1, le=20)] = 4
    initial_delay_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_delay_seconds: Annotated[float, Field(ge=0)] = 10.0


class CollectionConfig(StrictModel):
    """Watermarked collection. A new watermark starts at ``start_at``, else ``initial_lookback_seconds``
    before the first run; a run collects ``[watermark, now - safety_lag_seconds)`` in chunks."""

    safety_lag_seconds: Annotated[int, Field(ge=0)] = 120
    chunk_intervals: Annotated[int, Field(ge=1, le=10_000)] = 1440
    start_at: UtcInstant | None = None
    initial_lookback_seconds: Annotated[int, Field(ge=0)] = 3600
    counter_baseline_lookback_seconds: Annotated[int, Field(ge=60)] = 6 * 3600
    max_chunks_per_run: Annotated[int, Field(ge=1)] | None = None
    """Bounds one scheduled run (the next one continues), so a long catch-up shares the database."""
    max_series_per_query: Annotated[int, Field(ge=1)] = 100_000
    """A query answering with more series fails the chunk (``source_query_error``): a label-cardinality
    explosion (a label with a value per request) caught before it fills memory and the tables."""
    retry: RetryConfig = RetryConfig()
