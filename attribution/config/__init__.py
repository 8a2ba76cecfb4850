"""Settings by part: pricing, pools, sources, scheduler, api, assembled in :mod:`.settings`.

Each name is defined in one part; this package re-exports the public ones so that callers import from
``attribution.config`` without knowing which part a setting lives in. The policies and reserved names
are the model's vocabulary (:mod:`attribution.model.vocabulary`), re-exported here for the same reason.
"""

from attribution.catalog.models import KV_DTYPE_BYTES
from attribution.config.api import ApiConfig
from attribution.config.budgets import BudgetConfig, StatementDeliveryConfig, WebhookConfig
from attribution.config.pools import PolicyConfig, PoolConfig, TenantConfig, TierConfig, tier_names
from attribution.config.pricing import CommitmentConfig, GpuPrice, OverheadConfig, ReservationConfig
from attribution.config.scheduler import JobConfig, SchedulerConfig
from attribution.config.settings import (
    DEFAULT_CONFIG_FILE,
    LogFormat,
    LogLevel,
    Settings,
    config_path,
    load_settings,
)
from attribution.config.sources import (
    PROFILE_SIGNALS,
    CollectionConfig,
    CollectorName,
    LabelNames,
    ProfileConfig,
    RetryConfig,
    SourceConfig,
)
from attribution.config.types import (
    MICROS_PER_USD,
    UsdAmount,
    UtcInstant,
    fraction_to_ppm,
    usd_to_micros,
)
from attribution.model.vocabulary import RESERVED_NAMES, FixedPolicy, IdlePolicy, SettlementWindow

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "KV_DTYPE_BYTES",
    "MICROS_PER_USD",
    "PROFILE_SIGNALS",
    "RESERVED_NAMES",
    "ApiConfig",
    "BudgetConfig",
    "CollectionConfig",
    "CollectorName",
    "CommitmentConfig",
    "FixedPolicy",
    "GpuPrice",
    "IdlePolicy",
    "JobConfig",
    "LabelNames",
    "LogFormat",
    "LogLevel",
    "OverheadConfig",
    "PolicyConfig",
    "PoolConfig",
    "ProfileConfig",
    "ReservationConfig",
    "RetryConfig",
    "SchedulerConfig",
    "Settings",
    "SettlementWindow",
    "SourceConfig",
    "StatementDeliveryConfig",
    "TenantConfig",
    "TierConfig",
    "UsdAmount",
    "UtcInstant",
    "WebhookConfig",
    "config_path",
    "fraction_to_ppm",
    "load_settings",
    "tier_names",
    "usd_to_micros",
]
