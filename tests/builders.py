"""Small ``create_*`` builders for stored telemetry, instead of a factory framework."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings, load_settings
from attribution.store.session import unit_of_work
from attribution.store.tables import GpuSample, KvSample, TenantUsage
from attribution.store.writes import upsert

T0 = datetime(2026, 11, 2, tzinfo=UTC)
SMALL = "mistralai/Mistral-Small-24B-Instruct-2501"


def small_cluster_settings(**overrides: Any) -> Settings:
    """4 H100 paid for at $2.99/h: 2 serve pool ``small``, 1 is unallocated, 1 is never sampled."""
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "inventory": {"H100-SXM": 4},
        "gpu_prices": [{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "2.99"}],
        "pools": [
            {
                "name": "small",
                "model": "mistral-small-24b",
                "served_model_name": SMALL,
                "tensor_parallel_size": 2,
                "gpu_selector": {"pod": "small-.*"},
            }
        ],
    }
    values.update(overrides)
    return load_settings(**values)


def create_gpu_rows(
    minutes: int, pool_gpus: int = 2, unallocated: int = 1, step_minutes: int = 1, start: datetime = T0
) -> list[dict[str, Any]]:
    rows = []
    for m in range(0, minutes, step_minutes):
        t = start + timedelta(minutes=m)
        for g in range(pool_gpus + unallocated):
            rows.append(
                {
                    "interval_start": t,
                    "gpu_uuid": f"GPU-{g}",
                    "hostname": "node-1",
                    "gpu_model_name": "NVIDIA H100 80GB HBM3",
                    "gpu_type": "H100-SXM",
                    "pool": "small" if g < pool_gpus else None,
                    "fb_used_bytes": 70 * 2**30,
                    "fb_free_bytes": 10 * 2**30,
                    "gpu_util_percent": 50.0,
                }
            )
    return rows


KV_CAPACITY_TOKENS = 500_000


def create_kv_rows(
    minutes: int, usage_ratio: float | list[float] = 0.4, step_minutes: int = 1, start: datetime = T0
) -> list[dict[str, Any]]:
    """Engine rows; a list gives each minute its own mean usage. A minute at zero usage is idle (no
    requests running); one above zero with no usage rows is a telemetry gap."""
    ratios = usage_ratio if isinstance(usage_ratio, list) else [usage_ratio] * minutes
    return [
        {
            "interval_start": start + timedelta(minutes=m),
            "pool": "small",
            "engine_id": "small-0/0",
            "kv_usage_ratio": ratios[m],
            "kv_capacity_tokens": KV_CAPACITY_TOKENS,
            "kv_bytes_per_token": 81_920,
            "requests_running": 3.0 if ratios[m] > 0 else 0.0,  # an engine holding no KV runs nothing
            "requests_waiting": 0.0,
        }
        for m in range(0, minutes, step_minutes)
    ]


def create_usage_row(
    minute: int, tenant: str, tier: str, token_seconds: float, start: datetime = T0, **kw: int
) -> dict[str, Any]:
    return {
        "interval_start": start + timedelta(minutes=minute),
        "pool": "small",
        "tenant": tenant,
        "tier": tier,
        "requests": kw.get("requests", 1),
        "prompt_tokens": kw.get("prompt_tokens", 1000),
        "generation_tokens": kw.get("generation_tokens", 100),
        "kv_token_seconds": token_seconds,
    }


def store(
    factory: sessionmaker[Session],
    gpu: list[dict[str, Any]],
    kv: list[dict[str, Any]],
    usage: list[dict[str, Any]],
) -> None:
    with unit_of_work(factory) as session:
        upsert(session, GpuSample, gpu)
        upsert(session, KvSample, kv)
        upsert(session, TenantUsage, usage)
