"""Stored results for the API tests: one hour of a small cluster with two tenants, attributed, and keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
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


@pytest.fixture
def api(pg_factory: sessionmaker[Session]) -> Api:
    store_two_tenants(pg_factory)
    settings = small_cluster_settings(max_window_days=31)
    run_attribution(settings, pg_factory, T0, END)
    keys = {
        scope.split(":")[-1]: create_api_key(pg_factory, scope)
        for scope in ("admin", "finance", "billing", "tenant:acme", "tenant:globex")
    }
    client = TestClient(create_app(settings, pg_factory), raise_server_exceptions=False)
    return Api(client, settings, pg_factory, keys)
