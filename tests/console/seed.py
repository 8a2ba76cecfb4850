"""A month of stored telemetry the console can show: hourly intervals over November 2026 (closed) and
the first three days of December (open), three tenants in three context tiers, usage varying by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.store.collection_state import SourceCoverage
from attribution.store.session import unit_of_work
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
OPEN_END = datetime(2026, 12, 4, tzinfo=UTC)
HOUR = 60
#: tenant -> (tier, KV token-seconds per hour on a weekday, requests per hour, prompt tokens per request)
TENANTS = {
    "acme-chat": [("0-4k", 2_400_000.0, 300, 1_500), ("4k-32k", 1_800_000.0, 40, 12_000)],
    "globex-search": [("0-4k", 1_200_000.0, 200, 900), ("32k-128k", 2_000_000.0, 6, 60_000)],
    "initech-agents": [("4k-32k", 900_000.0, 30, 9_000), ("128k+", 1_500_000.0, 2, 150_000)],
}


PRICE_LIST = Path(__file__).resolve().parents[2] / "deploy" / "pricing" / "long-context-128k.toml"


def console_settings(**overrides: Any) -> Settings:
    return small_cluster_settings(
        interval_seconds=3600, max_window_days=62, api={"console_price_list": str(PRICE_LIST)}, **overrides
    )


def _usage(hours: int, start: datetime) -> list[dict[str, object]]:
    rows = []
    for h in range(hours):
        t = start + timedelta(hours=h)
        weekday = (t.weekday() < 5) * 0.6 + 0.4  # weekends are quieter
        daytime = 1.0 if 8 <= t.hour < 20 else 0.5
        growth = {"acme-chat": 1.0, "globex-search": 0.4 + h / hours, "initech-agents": 1.4 - weekday}
        for tenant, tiers in TENANTS.items():
            for tier, token_seconds, requests, prompt in tiers:
                scale = weekday * daytime * growth[tenant]
                rows.append(
                    create_usage_row(
                        h * HOUR,
                        tenant,
                        tier,
                        token_seconds * scale,
                        start=start,
                        requests=max(1, int(requests * scale)),
                        prompt_tokens=int(prompt * requests * scale),
                        generation_tokens=int(200 * requests * scale),
                    )
                )
    return rows


#: The engine source missed three hours on 12 November; the KV usage of those hours is estimated.
GAP_START, GAP_HOURS = datetime(2026, 11, 12, 9, tzinfo=UTC), 3


def _coverage(factory: sessionmaker[Session], hours: int) -> None:
    """What the collectors would have recorded: every source present, but for the engine's gap."""
    rows = []
    for h in range(hours):
        t = MONTH_START + timedelta(hours=h)
        gap = GAP_START <= t < GAP_START + timedelta(hours=GAP_HOURS)
        for collector, source in (("gpu", "dcgm"), ("kv", "vllm"), ("gateway", "litellm")):
            status = "estimated" if gap and collector == "kv" else "present"
            rows.append(
                {
                    "collector": collector,
                    "source": source,
                    "interval_start": t,
                    "status": status,
                    "series": 2,
                    "rows": 2,
                    "collected_at": t + timedelta(hours=1),
                }
            )
    with unit_of_work(factory) as session:
        session.execute(insert(SourceCoverage), rows)


def seed(factory: sessionmaker[Session], settings: Settings, close: bool = True) -> None:
    """Store and attribute November (whole) and December's first days; close November if ``close``."""
    hours = int((OPEN_END - MONTH_START).total_seconds()) // 3600
    busy = [(MONTH_START + timedelta(minutes=m)).weekday() < 5 for m in range(hours * HOUR)]
    ratios = [0.25 + 0.35 * b for b in busy]
    gpu = create_gpu_rows(hours * HOUR, step_minutes=HOUR, start=MONTH_START)
    kv = create_kv_rows(hours * HOUR, ratios, step_minutes=HOUR, start=MONTH_START)
    store(factory, gpu, kv, _usage(hours, MONTH_START))
    _coverage(factory, hours)
    run_attribution(settings, factory, MONTH_START, OPEN_END)
    if not close:
        return
    with unit_of_work(factory) as session:
        close_period(session, "2026-11", settings.interval_seconds, "seed")
