"""A billing history for the report tests: November closed (with a late correction), December open.

Built once per test session on its own Postgres database (the tests only read it) by the real pipeline
(stored telemetry, memory-time attribution, period close, corrections), at hourly intervals so that a
whole month stays small. The ``history`` fixture is shared by tests/reports and tests/api.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import TenantUsage
from attribution.store.writes import upsert
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.postgres import fresh_database

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
DEC_DAYS = 5


HOURS = 30 * 24


@dataclass(frozen=True)
class History:
    settings: Settings
    factory: sessionmaker[Session]
    november_hash: str


def hourly_settings(**overrides: Any) -> Settings:
    return small_cluster_settings(interval_seconds=3600, **overrides)


def usage_rows(start: datetime, hours: int) -> list[dict[str, Any]]:
    """Four tenants, one per context tier, with a daily rhythm, so charts and tiers have a shape."""
    rows = []
    for h in range(hours):
        day_hour = h % 24
        busy = 1 + (8 <= day_hour < 20)
        rows.append(
            create_usage_row(
                h * 60,
                "acme",
                "0-4k",
                3e7 * busy,
                start=start,
                requests=400 * busy,
                prompt_tokens=600_000 * busy,
                generation_tokens=200_000 * busy,
            )
        )
        if 8 <= day_hour < 20:
            rows.append(
                create_usage_row(
                    h * 60,
                    "globex",
                    "4k-32k",
                    8e7,
                    start=start,
                    requests=30,
                    prompt_tokens=480_000,
                    generation_tokens=30_000,
                )
            )
        if h % 5 == 0:
            rows.append(
                create_usage_row(
                    h * 60,
                    "umbrella",
                    "32k-128k",
                    6e8,
                    start=start,
                    requests=4,
                    prompt_tokens=440_000,
                    generation_tokens=3_200,
                )
            )
        if h % 7 == 0:
            rows.append(
                create_usage_row(
                    h * 60,
                    "hooli",
                    "128k+",
                    9e8,
                    start=start,
                    requests=2,
                    prompt_tokens=300_000,
                    generation_tokens=1_000,
                )
            )
    return rows


def load(factory: sessionmaker[Session], start: datetime, hours: int) -> None:
    minutes = hours * 60
    ratios = [0.2 + 0.3 * ((h % 24) / 24) for h in range(minutes)]
    kv = [r for r in create_kv_rows(minutes, ratios, step_minutes=60, start=start)]
    # two hours a day without a KV reading: those intervals are estimated from the tenants' token-seconds
    kv = [r for r in kv if r["interval_start"].hour not in (3, 4)]
    store(factory, create_gpu_rows(minutes, step_minutes=60, start=start), kv, usage_rows(start, hours))


@pytest.fixture(scope="session")
def history(pg_server: str) -> Iterator[History]:
    settings = hourly_settings()
    with fresh_database(pg_server) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        load(factory, NOV, HOURS)
        run_attribution(settings, factory, NOV, DEC)
        with unit_of_work(factory) as session:
            row, _ = close_period(session, "2026-11", 3600, "close-nov")
            digest = str(row.content_hash)
        # a late gateway backfill for November 3rd: billed as corrections in December
        late = [
            create_usage_row(h * 60, "late", "4k-32k", 5e8, start=NOV, requests=10, prompt_tokens=90_000)
            for h in range(48, 72)
        ]
        with unit_of_work(factory) as session:
            upsert(session, TenantUsage, late)
        run_attribution(settings, factory, NOV, DEC)
        load(factory, DEC, DEC_DAYS * 24)
        # December's first days as if they were over (the clock may be in them): nothing past "now" is billed
        as_of = DEC + timedelta(days=DEC_DAYS)
        run_attribution(settings, factory, DEC, as_of, now=as_of)
        yield History(settings, factory, digest)
        engine.dispose()
