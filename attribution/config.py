"""Settings: environment variables (prefix ``ATTRIBUTION_``) over one TOML file over defaults.

The TOML file is named by ``ATTRIBUTION_CONFIG`` (default ``attribution.toml`` in the working directory, if
present). Money is given as decimal strings and converted to integer micro-USD here, once, so that no float
ever touches a price. A bad config raises :class:`ConfigError` naming the key and the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from attribution.catalog import GPUS, MODELS
from attribution.catalog.models import KV_DTYPE_BYTES
from attribution.errors import ConfigError

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


class GpuPrice(_Strict):
    """Price of one GPU-hour of a type, effective from a UTC instant until the next price of that type."""

    gpu_type: str
    usd_per_gpu_hour: str
    effective_from: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    @field_validator("gpu_type")
    @classmethod
    def _known_gpu(cls, v: str) -> str:
        if v not in GPUS:
            raise ValueError(f"unknown GPU type {v!r}; known: {', '.join(sorted(GPUS))}")
        return v

    @field_validator("usd_per_gpu_hour", mode="before")
    @classmethod
    def _decimal_string(cls, v: Any) -> str:
        usd_to_micros(v)
        return str(v)

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
        return v.astimezone(UTC)

    @property
    def usd_micros_per_gpu_hour(self) -> int:
        return usd_to_micros(self.usd_per_gpu_hour)


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
    Engine and gateway series belong to the pool when their ``model_name`` / ``model`` label equals
    ``served_model_name``.
    """

    name: str
    model: str
    served_model_name: str
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    gpu_selector: LabelRules
    fixed_policy: FixedPolicy | None = None
    idle_policy: IdlePolicy | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_NAMES or not v:
            raise ValueError(f"pool name {v!r} is reserved or empty")
        return v

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in MODELS:
            raise ValueError(f"unknown model {v!r}; known: {', '.join(sorted(MODELS))}")
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


class PolicyConfig(_Strict):
    fixed: FixedPolicy = FixedPolicy.PROPORTIONAL
    idle: IdlePolicy = IdlePolicy.SHARE
    settlement_window: SettlementWindow = SettlementWindow.HOUR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTRIBUTION_", extra="forbid", frozen=True)

    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    database_url: str = "sqlite:///attribution.db"
    interval_seconds: Annotated[int, Field(ge=10, le=3600)] = 60
    max_window_days: Annotated[int, Field(ge=1)] = 400
    currency: str = "USD"
    gpu_prices: list[GpuPrice] = []
    inventory: dict[str, Annotated[int, Field(ge=0)]] = {}
    pools: list[PoolConfig] = []
    tiers: TierConfig = TierConfig()
    tenants: TenantConfig = TenantConfig()
    policies: PolicyConfig = PolicyConfig()

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
        for gpu_type in self.inventory:
            if gpu_type not in GPUS:
                raise ValueError(f"inventory: unknown GPU type {gpu_type!r}")
            if not any(p.gpu_type == gpu_type for p in self.gpu_prices):
                raise ValueError(f"inventory: GPU type {gpu_type!r} has no entry in gpu_prices")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError("pools: names must be unique")
        served = [p.served_model_name for p in self.pools]
        if len(set(served)) != len(served):
            raise ValueError("pools: served_model_name must be unique")
        return self

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
    "PoolConfig",
    "Settings",
    "SettlementWindow",
    "load_settings",
    "tier_names",
    "usd_to_micros",
]
