"""Settings: environment variables (prefix ``ATTRIBUTION_``) over one TOML file over defaults.

The TOML file is named by ``ATTRIBUTION_CONFIG`` (default ``attribution.toml`` in the working directory, if
present). Money is given as decimal strings and converted to integer micro-USD here, once, so that no float
ever touches a price. A bad config raises :class:`ConfigError` naming the key and the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from attribution.catalog import SHIPPED, Catalog, declared_catalog
from attribution.catalog.models import KV_DTYPE_BYTES
from attribution.catalog.registry import unknown_gpu_message, unknown_model_message
from attribution.errors import ConfigError
from attribution.model.names import canonical_name
from attribution.sourceauth import SourceAccess

#: The catalog of the Settings being validated (shipped + declared), for the field validators of its
#: nested tables; set by ``Settings._declared_catalog`` before they run.
_VALIDATING_CATALOG: ContextVar[Catalog] = ContextVar("validating_catalog", default=SHIPPED)

MICROS_PER_USD = 1_000_000
DEFAULT_CONFIG_FILE = "attribution.toml"
RESERVED_NAMES = frozenset({"__unallocated__", "__unmeasured__", "__idle__", "__filtered__", "__cluster__"})


class FixedPolicy(StrEnum):
    PROPORTIONAL = "proportional"
    EVEN = "even"
    TOKENS = "tokens"


class IdlePolicy(StrEnum):
    SHARE = "share"
    SEPARATE = "separate"
    RESERVED = "reserved"


class SettlementWindow(StrEnum):
    INTERVAL = "interval"
    HOUR = "hour"
    DAY = "day"
    PERIOD = "period"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def usd_to_micros(value: str | int | Decimal) -> int:
    """Exact conversion of a decimal USD amount to integer micro-USD; refuses sub-micro precision."""
    if isinstance(value, float):
        raise ValueError("money must be a decimal string, not a float")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimal places")
    if micros < 0:
        raise ValueError("must not be negative")
    return int(micros)


def _utc_instant(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
    return v.astimezone(UTC)


class GpuPrice(_Strict):
    """Price of one GPU-hour of a type, effective from a UTC instant until the next price of that type."""

    gpu_type: str
    usd_per_gpu_hour: str
    effective_from: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    @field_validator("gpu_type")
    @classmethod
    def _known_gpu(cls, v: str) -> str:
        catalog = _VALIDATING_CATALOG.get()
        if v not in catalog.gpus:
            raise ValueError(unknown_gpu_message(v, catalog))
        return v

    @field_validator("usd_per_gpu_hour", mode="before")
    @classmethod
    def _decimal_string(cls, v: Any) -> str:
        usd_to_micros(v)
        return str(v)

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return _utc_instant(v)

    @property
    def usd_micros_per_gpu_hour(self) -> int:
        return usd_to_micros(self.usd_per_gpu_hour)


def fraction_to_ppm(value: str) -> int:
    """An exact decimal fraction in (0, 1] as parts per million."""
    try:
        ppm = Decimal(value) * 1_000_000
    except InvalidOperation:
        raise ValueError(f"not a decimal fraction: {value!r}") from None
    if ppm != ppm.to_integral_value() or not 0 < ppm <= 1_000_000:
        raise ValueError(f"{value} must be in (0, 1] with at most 6 decimal places")
    return int(ppm)


class ReservationConfig(_Strict):
    """A tenant reserves a fraction of a pool: under the ``reserved`` idle policy it pays that fraction of
    the pool's idle cost while the reservation is in effect, ``[effective_from, effective_to)``."""

    tenant: str
    pool: str
    fraction: str
    effective_from: datetime
    effective_to: datetime | None = None

    @field_validator("tenant", "pool")
    @classmethod
    def _canonical(cls, v: str) -> str:
        return canonical_name(v)

    @field_validator("fraction", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> str:
        if isinstance(v, float):
            raise ValueError("fractions must be decimal strings, not floats")
        fraction_to_ppm(str(v))
        return str(v)

    @field_validator("effective_from", "effective_to")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else _utc_instant(v)

    @property
    def fraction_ppm(self) -> int:
        return fraction_to_ppm(self.fraction)


class OverheadConfig(_Strict):
    """A fixed monthly cost (network, storage, staff) shared like cluster idle. A change applies from the
    first month that starts on or after its ``effective_from``."""

    name: str
    usd_per_month: str
    effective_from: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    @field_validator("usd_per_month", mode="before")
    @classmethod
    def _decimal_string(cls, v: Any) -> str:
        usd_to_micros(v)
        return str(v)

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return _utc_instant(v)

    @property
    def usd_micros_per_month(self) -> int:
        return usd_to_micros(self.usd_per_month)


LabelRules = dict[str, str]


def _check_regexes(rules: LabelRules) -> LabelRules:
    for label, pattern in rules.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"label {label!r}: bad regular expression {pattern!r}: {exc}") from None
    return rules


class PoolConfig(_Strict):
    """One deployment of one model.

    ``gpu_selector`` maps dcgm-exporter labels to regular expressions that must all match in full (a label
    ``pod`` also matches ``exported_pod``, the name a ServiceMonitor with honorLabels false gives it).
    Engine and gateway series belong to the pool when their model label (``model_name``, ``model``, per
    the source profile) equals ``served_model_name`` or one of ``model_aliases`` (the names a gateway
    knows it by, e.g. a LiteLLM model group).
    """

    name: str
    model: str
    served_model_name: str
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    gpu_selector: LabelRules
    model_aliases: list[str] = []
    fixed_policy: FixedPolicy | None = None
    idle_policy: IdlePolicy | None = None
    max_num_seqs: Annotated[int, Field(ge=1)] = 256
    """The engines' ``max_num_seqs`` (vLLM's default 256): the denominator of batch occupancy. vLLM's
    ``cache_config_info`` does not carry it, so the efficiency report reads it from here."""
    target_occupancy: str = "0.8"
    """The batch occupancy (0, 1] the operator aims for: below it, the efficiency report prices the
    headroom per 1M tokens. A decimal string."""

    @field_validator("target_occupancy", mode="before")
    @classmethod
    def _occupancy(cls, v: Any) -> str:
        if isinstance(v, float):
            raise ValueError("target_occupancy must be a decimal string, not a float")
        fraction_to_ppm(str(v))
        return str(v)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_NAMES or not v:
            raise ValueError(f"pool name {v!r} is reserved or empty")
        return canonical_name(v, "pool name")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        catalog = _VALIDATING_CATALOG.get()
        if not catalog.has_model(v):
            raise ValueError(unknown_model_message(v, catalog))
        return v

    @field_validator("gpu_selector")
    @classmethod
    def _selector(cls, v: LabelRules) -> LabelRules:
        if not v:
            raise ValueError("needs at least one label rule, e.g. {pod = 'llama-405b-.*'}")
        return _check_regexes(v)


class TierConfig(_Strict):
    """Context-tier boundaries in tokens (k = 1024); a request's tier is by prompt + generated tokens."""

    boundaries_tokens: list[int] = [4096, 32768, 131072]

    @field_validator("boundaries_tokens")
    @classmethod
    def _ascending(cls, v: list[int]) -> list[int]:
        if not v or any(b <= 0 for b in v) or any(a >= b for a, b in pairwise(v)):
            raise ValueError("must be a non-empty, strictly ascending list of positive token counts")
        return v

    @property
    def names(self) -> list[str]:
        return tier_names(self.boundaries_tokens)


def _k(tokens: int) -> str:
    if tokens == 0 or tokens % 1024:
        return str(tokens)
    return f"{tokens // 1024}k"


def tier_names(boundaries_tokens: list[int]) -> list[str]:
    """Names like ``0-4k``, ``4k-32k``, ``128k+``: the label values the gateway contract uses."""
    edges = [0, *boundaries_tokens]
    names = [f"{_k(a)}-{_k(b)}" for a, b in pairwise(edges)]
    return [*names, f"{_k(boundaries_tokens[-1])}+"]


class TenantConfig(_Strict):
    """How tenants are read from gateway series. An empty ``known`` list accepts every label value."""

    label: str = "tenant"
    known: list[str] = []

    @field_validator("known")
    @classmethod
    def _canonical(cls, v: list[str]) -> list[str]:
        """Known tenants as the collectors store them (:func:`canonical_name`), or refused."""
        return [canonical_name(name, "tenant") for name in v]


class PolicyConfig(_Strict):
    fixed: FixedPolicy = FixedPolicy.PROPORTIONAL
    idle: IdlePolicy = IdlePolicy.SHARE
    settlement_window: SettlementWindow = SettlementWindow.HOUR


class CollectorName(StrEnum):
    """What a collector fills: GPU samples (dcgm), engine KV samples, per-tenant usage (gateway)."""

    GPU = "gpu"
    KV = "kv"
    GATEWAY = "gateway"


#: Canonical signals per collector: (required, optional). Each maps to PromQL in a source profile.
PROFILE_SIGNALS: dict[CollectorName, tuple[frozenset[str], frozenset[str]]] = {
    CollectorName.GPU: (
        frozenset({"fb_used_bytes"}),
        frozenset({"fb_free_bytes", "fb_reserved_bytes", "gpu_util_percent"}),
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


class LabelNames(_Strict):
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


class ProfileConfig(_Strict):
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


class SourceConfig(SourceAccess, _Strict):
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
        _check_regexes({str(i): p for i, p in enumerate(v)})
        return v

    @model_validator(mode="after")
    def _access(self) -> Self:
        self.check_access(self.url)
        return self


class RetryConfig(_Strict):
    """Backoff on a source's transient failures: delays double from ``initial_delay_seconds`` up to
    ``max_delay_seconds`` (full jitter); after ``attempts`` the run fails and the watermark stays."""

    attempts: Annotated[int, Field(ge=1, le=20)] = 4
    initial_delay_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_delay_seconds: Annotated[float, Field(ge=0)] = 10.0


class CollectionConfig(_Strict):
    """Watermarked collection. A new watermark starts at ``start_at``, else ``initial_lookback_seconds``
    before the first run; a run collects ``[watermark, now - safety_lag_seconds)`` in chunks."""

    safety_lag_seconds: Annotated[int, Field(ge=0)] = 120
    chunk_intervals: Annotated[int, Field(ge=1, le=10_000)] = 1440
    start_at: datetime | None = None
    initial_lookback_seconds: Annotated[int, Field(ge=0)] = 3600
    counter_baseline_lookback_seconds: Annotated[int, Field(ge=60)] = 6 * 3600
    max_chunks_per_run: Annotated[int, Field(ge=1)] | None = None
    """Bounds one scheduled run (the next one continues), so a long catch-up shares the database."""
    max_series_per_query: Annotated[int, Field(ge=1)] = 100_000
    """A query answering with more series fails the chunk (``source_query_error``): a label-cardinality
    explosion (a label with a value per request) caught before it fills memory and the tables."""
    retry: RetryConfig = RetryConfig()

    @field_validator("start_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else _utc_instant(v)


class JobConfig(_Strict):
    enabled: bool = True
    every_seconds: Annotated[int, Field(ge=1)] = 60


class SchedulerConfig(_Strict):
    """``attribution scheduler``: one job per collector plus the attribution job, each with its own
    ``enabled`` and period. Self-metrics are served on ``metrics_host:metrics_port`` (0 turns them off)."""

    gpu: JobConfig = JobConfig()
    kv: JobConfig = JobConfig()
    gateway: JobConfig = JobConfig()
    attribution: JobConfig = JobConfig(every_seconds=300)
    attribution_align_seconds: Annotated[int, Field(ge=60)] = 3600
    attribution_max_window_seconds: Annotated[int, Field(ge=60)] = 86400
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 300
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464

    def job(self, collector: CollectorName) -> JobConfig:
        return {CollectorName.GPU: self.gpu, CollectorName.KV: self.kv, CollectorName.GATEWAY: self.gateway}[
            collector
        ]


class ApiConfig(_Strict):
    """The reporting API: page sizes of cursor-paged lists, how many windows' line sets it keeps in memory
    (reused until the next attribution run), and the longest usage series it answers, in points."""

    default_page_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Line items per page when a request gives no ``limit``."""
    max_page_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    """The cap on ``limit``: a larger one is served this many."""
    cached_windows: Annotated[int, Field(ge=0, le=1000)] = 32
    """Windows whose line sets stay in memory until the next attribution run; 0 reads every time."""
    max_series_points: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """The most buckets a usage or pool series may have; more is a 422 (use a larger step)."""
    console_price_list: Path | None = None
    """A TOML price list (docs/reports.md) the console's context-tier page sets against each tier's cost:
    revenue, margin and which tiers subsidise which. Unset: the page shows cost only."""
    session_secret_file: Path | None = None
    """A file holding the console's session secret (at least 32 bytes, the same on every replica and
    worker): session cookies are signed with it and the API key's stored digest, so reading the database
    alone cannot forge a session. Unset: a random secret per process, and console sessions end when the
    process restarts and work with one worker and one replica only (docs/security.md)."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 1 << 20
    """The largest request body, in bytes; a larger one is a 413 before it is read or a key is checked."""
    rate_limit_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 120
    """Expensive requests (pools, tiers, coverage, usage series, exports) a key may make per minute, per
    replica (an in-process token bucket); over it is a 429 with ``Retry-After``. 0 turns it off."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    """How many expensive requests a key may make at once before the per-minute rate applies."""


class LogFormat(StrEnum):
    """``text`` for a terminal; ``json``: one object a line, for a log pipeline (Loki, Elasticsearch)."""

    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"

    @classmethod
    def _missing_(cls, value: object) -> LogLevel | None:
        """``info`` is as good as ``INFO``: operators write levels both ways."""
        return next((m for m in cls if isinstance(value, str) and m.value == value.upper()), None)


class Settings(BaseSettings):
    #: ``ATTRIBUTION_SCHEDULER__METRICS_HOST=0.0.0.0`` sets one nested key (a container needs it);
    #: ``ATTRIBUTION_SCHEDULER='{...}'`` (JSON) still sets a whole table.
    model_config = SettingsConfigDict(
        env_prefix="ATTRIBUTION_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    database_url: str = "sqlite:///attribution.db"
    interval_seconds: Annotated[int, Field(ge=10, le=3600)] = 60
    line_grain_seconds: Annotated[int, Field(ge=10, le=3600)] = 3600
    """The grain of stored attributed lines: each line sums its intervals' lines within one grain.

    Attribution runs per interval; storing per hour keeps a month of a large fleet small (60 times fewer
    rows than per minute) and loses nothing a bill needs: every report is at an hour or coarser. Set it
    to ``interval_seconds`` for per-interval lines."""
    max_window_days: Annotated[int, Field(ge=1)] = 400
    currency: str = "USD"
    gpu_prices: list[GpuPrice] = []
    inventory: dict[str, Annotated[int, Field(ge=0)]] = {}
    pools: list[PoolConfig] = []
    tiers: TierConfig = TierConfig()
    tenants: TenantConfig = TenantConfig()
    policies: PolicyConfig = PolicyConfig()
    reservations: list[ReservationConfig] = []
    overheads: list[OverheadConfig] = []
    collection: CollectionConfig = CollectionConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    api: ApiConfig = ApiConfig()
    sources: list[SourceConfig] = []
    profiles: dict[str, ProfileConfig] = {}
    log_format: LogFormat = LogFormat.TEXT
    """How every entry point (serve, scheduler, collect, attribute) writes its logs to stderr."""
    log_level: LogLevel = LogLevel.INFO
    models: list[dict[str, Any]] = []
    """Model architectures beyond the shipped catalog (or overriding one of its keys): ``key`` plus the
    config.json fields (num_hidden_layers, num_key_value_heads, head_dim, torch_dtype, kv_lora_rank, ...)
    or ``config_json = "/path/config.json"``. See docs/catalog.md."""
    gpu_types: list[dict[str, Any]] = []
    """GPU types beyond the shipped catalog: ``key``, ``dcgm_model_names`` (the dcgm ``modelName`` labels)
    and ``fb_total_mib``, optionally ``[gpu_types.mig]``. See docs/catalog.md."""
    _catalog: Catalog = PrivateAttr(default=SHIPPED)

    @field_validator("interval_seconds")
    @classmethod
    def _divides_hour(cls, v: int) -> int:
        if 3600 % v:
            raise ValueError("must divide 3600 so intervals align to UTC hours")
        return v

    @field_validator("currency")
    @classmethod
    def _usd_only(cls, v: str) -> str:
        if v != "USD":
            raise ValueError("only USD is supported: prices are stored in micro-USD")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # the catalog ``_declared_catalog`` built from this input; reset so no later validation sees it
        self._catalog = catalog = _VALIDATING_CATALOG.get()
        _VALIDATING_CATALOG.set(SHIPPED)
        for gpu_type in self.inventory:
            if gpu_type not in catalog.gpus:
                raise ValueError(f"inventory: {unknown_gpu_message(gpu_type, catalog)}")
            if not any(p.gpu_type == gpu_type for p in self.gpu_prices):
                raise ValueError(f"inventory: GPU type {gpu_type!r} has no entry in gpu_prices")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError("pools: names must be unique")
        served = [p.served_model_name for p in self.pools]
        if len(set(served)) != len(served):
            raise ValueError("pools: served_model_name must be unique")
        aliases = [a for p in self.pools for a in p.model_aliases]
        if len(set(aliases)) != len(aliases) or set(aliases) & set(served):
            raise ValueError("pools: model_aliases must be unique and differ from every served_model_name")
        sources = [s.name for s in self.sources]
        if len(set(sources)) != len(sources):
            raise ValueError("sources: names must be unique")
        if self.line_grain_seconds % self.interval_seconds or 3600 % self.line_grain_seconds:
            raise ValueError("line_grain_seconds: must be a multiple of interval_seconds and divide 3600")
        self._check_reservations(set(names))
        return self

    @model_validator(mode="before")
    @classmethod
    def _declared_catalog(cls, data: Any) -> Any:
        """Build the catalog from ``models`` and ``gpu_types`` before the pools and prices that name its
        keys are validated (their validators read it from ``_VALIDATING_CATALOG``)."""
        catalog = SHIPPED
        if isinstance(data, dict):
            models, gpus = data.get("models") or [], data.get("gpu_types") or []
            if isinstance(models, list) and isinstance(gpus, list) and (models or gpus):
                catalog = declared_catalog(SHIPPED, models, gpus)
        _VALIDATING_CATALOG.set(catalog)
        return data

    @property
    def catalog(self) -> Catalog:
        """The shipped catalog extended by ``models`` and ``gpu_types``."""
        return self._catalog

    def _check_reservations(self, pools: set[str]) -> None:
        for i, r in enumerate(self.reservations):
            if r.pool not in pools:
                raise ValueError(f"reservations.{i}.pool: no pool named {r.pool!r}")
            if r.effective_to is not None and r.effective_to <= r.effective_from:
                raise ValueError(f"reservations.{i}: effective_to is not after effective_from")
        for r in self.reservations:  # at each reservation's start, the active ones must fit in the pool
            active = [
                o
                for o in self.reservations
                if o.pool == r.pool
                and o.effective_from <= r.effective_from
                and (o.effective_to is None or r.effective_from < o.effective_to)
            ]
            if sum(o.fraction_ppm for o in active) > 1_000_000:
                raise ValueError(
                    f"reservations: pool {r.pool!r} is reserved beyond 1 from {r.effective_from}"
                )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def pool(self, name: str) -> PoolConfig:
        for p in self.pools:
            if p.name == name:
                return p
        raise ConfigError(f"pools: no pool named {name!r}")

    def fixed_policy(self, pool: PoolConfig) -> FixedPolicy:
        return pool.fixed_policy or self.policies.fixed

    def idle_policy(self, pool: PoolConfig) -> IdlePolicy:
        return pool.idle_policy or self.policies.idle

    def effective_sources(self) -> list[SourceConfig]:
        """The configured sources, or one named ``prometheus`` at ``prometheus_url`` with the default
        profiles (dcgm, vllm, native), which is what a config without ``[[sources]]`` has always meant."""
        if self.sources:
            return list(self.sources)
        return [
            SourceConfig(
                name="prometheus", url=self.prometheus_url, timeout_seconds=self.prometheus_timeout_seconds
            )
        ]


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the file named by ATTRIBUTION_CONFIG (or ./attribution.toml when it exists)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ is used instead

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if path is None:
            return {}
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def config_path() -> Path | None:
    named = os.environ.get("ATTRIBUTION_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"ATTRIBUTION_CONFIG: no such file {named!r}")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation failures into one ConfigError that names every bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


__all__ = [
    "KV_DTYPE_BYTES",
    "FixedPolicy",
    "GpuPrice",
    "IdlePolicy",
    "OverheadConfig",
    "PoolConfig",
    "ReservationConfig",
    "Settings",
    "SettlementWindow",
    "load_settings",
    "tier_names",
    "usd_to_micros",
]
