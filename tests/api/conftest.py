"""Stored results for the API tests: one hour of a small cluster with two tenants, attributed, and keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.jobs.attribute import run_attribution
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, Api, create_api_key, store_two_tenants


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
