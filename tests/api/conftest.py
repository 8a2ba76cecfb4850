"""Stored results for the API tests: one hour of a small cluster with two tenants, attributed, and keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, Api, create_api_key, store_two_tenants


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Api:
    """The API over ``pg_tx`` (rolled back after the test); over ``pg_factory`` (committed, emptied) for a
    test marked ``committed``, whose data another connection (the CLI, a second engine) must see."""
    committed = request.node.get_closest_marker("committed") is not None
    factory: sessionmaker[Session] = request.getfixturevalue("pg_factory" if committed else "pg_tx")
    store_two_tenants(factory)
    settings = small_cluster_settings(max_window_days=31)
    run_attribution(settings, factory, T0, END)
    keys = {
        scope.split(":")[-1]: create_api_key(factory, scope)
        for scope in ("admin", "finance", "billing", "tenant:acme", "tenant:globex")
    }
    client = TestClient(create_app(settings, factory), raise_server_exceptions=False)
    return Api(client, settings, factory, keys)
