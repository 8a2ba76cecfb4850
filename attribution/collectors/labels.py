"""Finding pools, tenants and GPUs from labels, tolerant of the spellings real scrapes produce."""

from __future__ import annotations

import re
from collections.abc import Mapping

from attribution.config import PoolConfig, Settings
from attribution.model.split import NO_TIER

UNALLOCATED_TENANT = "__unallocated__"
UNMAPPED_POOL = "__unmapped__"


def label(labels: Mapping[str, str], name: str) -> str | None:
    """A label's value, also under the names scrapes give it: ``exported_<name>`` and other case."""
    for key in (name, f"exported_{name}", name.lower(), name.capitalize(), name.upper()):
        value = labels.get(key)
        if value:
            return value
    return None


def matches(labels: Mapping[str, str], rules: Mapping[str, str]) -> bool:
    for name, pattern in rules.items():
        value = label(labels, name)
        if value is None or re.fullmatch(pattern, value) is None:
            return False
    return True


def pool_for_gpu(settings: Settings, labels: Mapping[str, str]) -> PoolConfig | None:
    for pool in settings.pools:
        if matches(labels, pool.gpu_selector):
            return pool
    return None


def pool_for_model(settings: Settings, served_model_name: str | None) -> PoolConfig | None:
    for pool in settings.pools:
        if pool.served_model_name == served_model_name:
            return pool
    return None


def tenant_of(settings: Settings, labels: Mapping[str, str]) -> str:
    """The billed party; missing or unknown values go to ``__unallocated__`` (MODEL.md)."""
    value = labels.get(settings.tenants.label, "").strip()
    if not value or value.startswith("__"):
        return UNALLOCATED_TENANT
    if settings.tenants.known and value not in settings.tenants.known:
        return UNALLOCATED_TENANT
    return value


def tier_of(settings: Settings, labels: Mapping[str, str]) -> str:
    value = labels.get("tier", "")
    return value if value in settings.tiers.names else NO_TIER
