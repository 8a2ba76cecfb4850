"""Settings: environment variables (prefix ``ATTRIBUTION_``) over one TOML file over defaults.

The TOML file is named by ``ATTRIBUTION_CONFIG`` (default ``attribution.toml`` in the working directory, if
present). The tree is assembled here from its parts (pricing, pools, sources, scheduler, api), and checked
across them (every inventory type has a price, names are unique, reservations fit their pools). A bad
config raises :class:`ConfigError` naming the key and the problem.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from attribution.catalog import SHIPPED, Catalog, declared_catalog
from attribution.catalog.registry import unknown_gpu_message
from attribution.config.api import ApiConfig
from attribution.config.budgets import BudgetConfig, StatementDeliveryConfig, WebhookConfig
from attribution.config.clusters import CLUSTER_PARTS, DEFAULT_CLUSTER, ClusterConfig, ClusterName
from attribution.config.currency import CurrencyCode, ExchangeRate, check_rates, model_rates
from attribution.config.pools import PolicyConfig, PoolConfig, TenantConfig, TierConfig
from attribution.config.pricing import CommitmentConfig, GpuPrice, OverheadConfig, ReservationConfig
from attribution.config.scheduler import SchedulerConfig
from attribution.config.sources import CollectionConfig, ProfileConfig, SourceConfig
from attribution.config.types import VALIDATING_CATALOG
from attribution.errors import ConfigError
from attribution.model.currency import Rate
from attribution.model.vocabulary import FixedPolicy, IdlePolicy

DEFAULT_CONFIG_FILE = "attribution.toml"


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
    cluster: ClusterName = DEFAULT_CLUSTER
    """The name of the one cluster a config without ``[[clusters]]`` describes (docs/scale-out.md)."""
    clusters: list[ClusterConfig] = []
    """Several clusters in one ledger: each table sets a ``name`` and the parts that differ from the top
    level (sources or prometheus_url, inventory, gpu_prices, pools, policies, reservations, overheads)."""
    currency: str = "USD"
    billing_currency: CurrencyCode | None = None
    """The currency statements, exports and the API bill in (default: ``currency``); docs/currencies.md."""
    tenant_billing_currencies: dict[str, CurrencyCode] = {}
    """A tenant billed in another currency than the deployment's: its own statement uses this one."""
    exchange_rates: list[ExchangeRate] = []
    """Effective-dated rates from ``currency`` to each billing currency; a closed period keeps its own."""
    gpu_prices: list[GpuPrice] = []
    inventory: dict[str, Annotated[int, Field(ge=0)]] = {}
    pools: list[PoolConfig] = []
    tiers: TierConfig = TierConfig()
    tenants: TenantConfig = TenantConfig()
    policies: PolicyConfig = PolicyConfig()
    reservations: list[ReservationConfig] = []
    overheads: list[OverheadConfig] = []
    commitments: list[CommitmentConfig] = []
    """Reservations and commitments paid for a term, amortised monthly; their unused part is shown
    (docs/pricing.md, "Commitments")."""
    budgets: list[BudgetConfig] = []
    """Monthly budgets per tenant, or for the whole cluster (no ``tenant``), with alert thresholds in
    percent (docs/budgets.md)."""
    budget_webhook: WebhookConfig = WebhookConfig()
    """Where budget alerts are POSTed, signed (docs/budgets.md)."""
    statement_delivery: StatementDeliveryConfig = StatementDeliveryConfig()
    """Where a period's statement is delivered when it closes: a folder, a signed webhook
    (docs/budgets.md)."""
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
        self._catalog = catalog = VALIDATING_CATALOG.get()
        VALIDATING_CATALOG.set(SHIPPED)
        names = [c.name for c in self.clusters]
        if len(set(names)) != len(names):
            raise ValueError("clusters: names must be unique")
        views = [self] if not self.clusters else [self.for_cluster(n) for n in names]
        for view in views:
            where = f"clusters[{view.cluster}]." if self.clusters else ""
            try:
                view._check_parts(catalog)
            except ValueError as exc:
                raise ValueError(f"{where}{exc}") from None
        self._check_commitments({p.name for view in views for p in view.pools})  # of any cluster's pool
        if self.line_grain_seconds % self.interval_seconds or 3600 % self.line_grain_seconds:
            raise ValueError("line_grain_seconds: must be a multiple of interval_seconds and divide 3600")
        billed = [self.billing_currency or self.currency, *self.tenant_billing_currencies.values()]
        check_rates(self.currency, self.exchange_rates, billed)
        budgets = [b.name for b in self.budgets]
        if len(set(budgets)) != len(budgets):
            raise ValueError("budgets: one budget per tenant and one for the cluster (each per cluster)")
        for b in self.budgets:
            if b.cluster is not None and b.cluster not in self.cluster_names():
                known = ", ".join(self.cluster_names())
                raise ValueError(f"budgets: {b.name}: no cluster named {b.cluster!r} (known: {known})")
        return self

    def _check_parts(self, catalog: Catalog) -> None:
        """The checks across one cluster's parts: every owned type priced, names unique, reservations fit."""
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
        self._check_reservations(set(names))

    @model_validator(mode="before")
    @classmethod
    def _declared_catalog(cls, data: Any) -> Any:
        """Build the catalog from ``models`` and ``gpu_types`` before the pools and prices that name its
        keys are validated (their validators read it from ``VALIDATING_CATALOG``)."""
        catalog = SHIPPED
        if isinstance(data, dict):
            models, gpus = data.get("models") or [], data.get("gpu_types") or []
            if isinstance(models, list) and isinstance(gpus, list) and (models or gpus):
                catalog = declared_catalog(SHIPPED, models, gpus)
        VALIDATING_CATALOG.set(catalog)
        return data

    @property
    def catalog(self) -> Catalog:
        """The shipped catalog extended by ``models`` and ``gpu_types``."""
        return self._catalog

    def _check_commitments(self, pools: set[str]) -> None:
        names = [c.name for c in self.commitments]
        if len(set(names)) != len(names):
            raise ValueError("commitments: names must be unique")
        for i, c in enumerate(self.commitments):
            if c.pool is not None and c.pool not in pools:
                raise ValueError(f"commitments.{i}.pool: no pool named {c.pool!r}")
            if c.gpu_type is not None and c.gpu_type not in self.inventory:
                raise ValueError(f"commitments.{i}.gpu_type: {c.gpu_type!r} is not in the inventory")

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

    def cluster_names(self) -> list[str]:
        """Every cluster of the deployment, in configuration order."""
        return [c.name for c in self.clusters] or [self.cluster]

    def for_cluster(self, name: str) -> Settings:
        """The settings of one cluster: the top level with that cluster's parts in place, ``cluster`` set
        to its name and no ``clusters``, so code written for one cluster runs on it unchanged."""
        if not self.clusters:
            if name != self.cluster:
                raise ConfigError(f"clusters: no cluster named {name!r} (this config has {self.cluster!r})")
            return self
        found = next((c for c in self.clusters if c.name == name), None)
        if found is None:
            known = ", ".join(self.cluster_names())
            raise ConfigError(f"clusters: no cluster named {name!r} (known: {known})")
        update: dict[str, Any] = {"cluster": name, "clusters": []}
        update |= {part: getattr(found, part) for part in CLUSTER_PARTS if getattr(found, part) is not None}
        if found.prometheus_url is not None and found.sources is None:
            update |= {"prometheus_url": found.prometheus_url, "sources": []}
        return self.model_copy(update=update)

    def each_cluster(self) -> list[Settings]:
        """:meth:`for_cluster` of every cluster."""
        return [self.for_cluster(name) for name in self.cluster_names()]

    def selected_clusters(self, name: str | None) -> list[Settings]:
        """The named cluster's settings (a ``--cluster`` option), or every cluster's when None."""
        return self.each_cluster() if name is None else [self.for_cluster(name)]

    def pool(self, name: str) -> PoolConfig:
        for p in self.pools:
            if p.name == name:
                return p
        raise ConfigError(f"pools: no pool named {name!r}")

    def billing_currency_for(self, tenant: str | None = None) -> str:
        """The tenant's own billing currency, else the deployment's, else the pricing currency."""
        if tenant is not None and tenant in self.tenant_billing_currencies:
            return self.tenant_billing_currencies[tenant]
        return self.billing_currency or self.currency

    def rates(self) -> list[Rate]:
        """The configured exchange rates, for the pure conversion."""
        return model_rates(self.exchange_rates)

    def fixed_policy(self, pool: PoolConfig) -> FixedPolicy:
        return pool.fixed_policy or self.policies.fixed

    def idle_policy(self, pool: PoolConfig) -> IdlePolicy:
        return pool.idle_policy or self.policies.idle

    def idle_warm_policy(self, pool: PoolConfig) -> IdlePolicy:
        """The pool's own setting first, then the cluster's for the kind, then idle's."""
        return pool.idle_warm_policy or pool.idle_policy or self.policies.idle_warm or self.policies.idle

    def kv_headroom_policy(self, pool: PoolConfig) -> IdlePolicy:
        return pool.kv_headroom_policy or pool.idle_policy or self.policies.kv_headroom or self.policies.idle

    def idle_cold_policy(self) -> IdlePolicy:
        """Cluster idle's: ``reserved`` has no cluster-wide meaning (reservations are of a pool), so the
        job settles it as ``share``, exactly as it does cluster idle under ``policies.idle``."""
        policy = self.policies.idle_cold or self.policies.idle
        return IdlePolicy.SHARE if policy is IdlePolicy.RESERVED else policy

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
