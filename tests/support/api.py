"""What the API tests share: one hour of a small cluster with two tenants, keys, and a client wrapper.

Shared by tests/api, tests/console and tests/reliability; the ``api`` fixture is in tests/api/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.api.keycache import KeyCache
from attribution.api.warm import WarmAnswers
from attribution.config import Settings
from attribution.store.apikeys import create_key
from attribution.store.session import unit_of_work
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.lines import insert_lines

MINUTES = 60
END = T0 + timedelta(minutes=MINUTES)


def create_api_key(factory: sessionmaker[Session], *scopes: str) -> str:
    with unit_of_work(factory) as session:
        return create_key(session, list(scopes), "test").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def store_two_tenants(factory: sessionmaker[Session], minutes: int = MINUTES) -> None:
    """acme in two tiers, globex in one, on pool ``small``: KV in use by both, the rest idle and static."""
    usage = []
    for m in range(minutes):
        usage.append(create_usage_row(m, "acme", "0-4k", 120_000.0, requests=3))
        usage.append(create_usage_row(m, "acme", "4k-32k", 60_000.0, requests=1, prompt_tokens=9000))
        usage.append(create_usage_row(m, "globex", "0-4k", 80_000.0, requests=2))
    store(factory, create_gpu_rows(minutes), create_kv_rows(minutes, 0.01), usage)


@dataclass
class Api:
    client: TestClient
    settings: Settings
    factory: sessionmaker[Session]
    keys: dict[str, str]

    def get(self, path: str, key: str | None = "admin", **params: Any) -> httpx.Response:
        headers = bearer(self.keys[key]) if key else {}
        return self.client.get(path, params=params, headers=headers)

    def post(
        self, path: str, key: str | None = "admin", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.post(path, headers={**(bearer(self.keys[key]) if key else {}), **(headers or {})})


def stored_line(tenant: str, tier: str, usd_micros: int, minute: int = 0) -> dict[str, Any]:
    """One stored line on pool ``small``: all of its cost KV in use, with some usage."""
    return {
        "interval_start": T0 + timedelta(minutes=minute),
        "pool": "small",
        "tenant": tenant,
        "tier": tier,
        "estimated": False,
        "kv_in_use_usd_micros": usd_micros,
        "static_usd_micros": 0,
        "idle_usd_micros": 0,
        "unmeasured_usd_micros": 0,
        "total_usd_micros": usd_micros,
        "kv_token_seconds": 1000.0,
        "kv_byte_seconds": 1e9,
        "requests": 1,
        "prompt_tokens": 100,
        "generation_tokens": 10,
    }


def api_over(factory: sessionmaker[Session], amounts: dict[tuple[str, str], int]) -> Api:
    with unit_of_work(factory) as session:
        insert_lines(session, [stored_line(t, tier, a) for (t, tier), a in amounts.items()])
    keys = {s.split(":")[-1]: create_api_key(factory, s) for s in ("finance", "tenant:A", "tenant:B")}
    app = create_app(small_cluster_settings(max_window_days=31), factory)
    return Api(TestClient(app, raise_server_exceptions=False), small_cluster_settings(), factory, keys)


class KeyClock:
    """The monotonic clock of an app's key cache, moved by the test: a revocation's bound without
    sleeping through it."""

    def __init__(self, client: TestClient, seconds: float = 5.0) -> None:
        self.now = 0.0
        self.seconds = seconds
        app = client.app
        assert isinstance(app, FastAPI)
        app.state.keys = KeyCache(seconds, clock=lambda: self.now)

    def pass_bound(self) -> None:
        """Move past ``key_cache_seconds``: every kept key is checked again."""
        self.now += self.seconds


class ResultsClock:
    """The monotonic clock of an app's warm answers (:mod:`attribution.api.warm`), moved by the test: an
    attribution run's bound (``api.results_fresh_seconds``) without sleeping through it."""

    def __init__(self, client: TestClient, seconds: float = 1.0) -> None:
        self.now = 0.0
        self.seconds = seconds
        app = client.app
        assert isinstance(app, FastAPI)
        app.state.warm = WarmAnswers(seconds, clock=lambda: self.now)

    def pass_bound(self) -> None:
        """Move past ``results_fresh_seconds``: the next request reads the results' version again."""
        self.now += self.seconds
