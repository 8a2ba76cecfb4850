"""The statement over the API in a billing currency: the configured one, or ``?currency=``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.model.currency import convert_total
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.api import bearer, create_api_key

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
HOURS = 30 * 24
EUR = {"from": "USD", "to": "EUR", "rate": "0.9215", "effective_from": "2026-11-01T00:00:00Z"}
JPY = {"from": "USD", "to": "JPY", "rate": "143.27", "effective_from": "2026-12-01T00:00:00Z"}


@pytest.fixture
def client(pg_tx: sessionmaker[Session]) -> TestClient:
    """November attributed whole, billed in EUR; a JPY rate only from December."""
    usage = [create_usage_row(h * 60, "acme", "0-4k", 4e7, start=NOV) for h in range(HOURS)]
    usage += [create_usage_row(h * 60, "globex", "128k+", 9e8, start=NOV) for h in range(0, HOURS, 5)]
    store(
        pg_tx,
        create_gpu_rows(HOURS * 60, step_minutes=60, start=NOV),
        create_kv_rows(HOURS * 60, 0.3, step_minutes=60, start=NOV),
        usage,
    )
    settings = small_cluster_settings(
        interval_seconds=3600, billing_currency="EUR", exchange_rates=[EUR, JPY]
    )
    run_attribution(settings, pg_tx, NOV, DEC)
    client = TestClient(create_app(settings, pg_tx))
    client.headers.update(bearer(create_api_key(pg_tx, "finance")))
    return client


def test_the_statement_bills_in_the_configured_currency(client: TestClient) -> None:
    body = client.get("/v1/periods/2026-11/statement").json()
    assert (body["billing_currency"], body["exchange_rate"], body["billing_exponent"]) == ("EUR", "0.9215", 2)
    assert body["rate_effective_from"] == "2026-11-01T00:00:00Z"
    assert body["total_billing_minor"] == convert_total(body["total_usd_micros"], Decimal("0.9215"), 2)
    assert sum(x["total_billing_minor"] for x in body["lines"]) == body["total_billing_minor"]
    assert body["total_cents"] == sum(x["total_cents"] for x in body["lines"])  # USD kept beside


def test_currency_query_overrides_and_a_missing_rate_is_a_422(client: TestClient) -> None:
    usd = client.get("/v1/periods/2026-11/statement", params={"currency": "USD"}).json()
    assert (usd["billing_currency"], usd["total_billing_minor"]) == ("USD", usd["total_cents"])
    missing = client.get("/v1/periods/2026-11/statement", params={"currency": "JPY"})
    assert missing.status_code == 422
    assert missing.json()["detail"].startswith(
        "no USD->JPY exchange rate is in effect at 2026-11-01T00:00:00Z"
    )
    unknown = client.get("/v1/periods/2026-11/statement", params={"currency": "XXY"})
    assert unknown.status_code == 422 and "unknown currency code 'XXY'" in unknown.json()["detail"]
