"""Periods over the API: list, close with an Idempotency-Key (a retry is safe, another key a 409), and
the frozen statement with its content hash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.model.statement import Line, content_hash
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.api import bearer, create_api_key

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
HOURS = 30 * 24


@pytest.fixture
def client(pg_tx: sessionmaker[Session]) -> TestClient:
    """November at hourly intervals, attributed whole, and a finance key."""
    usage = [create_usage_row(h * 60, "acme", "0-4k", 4e7, start=NOV) for h in range(HOURS)]
    usage += [create_usage_row(h * 60, "globex", "128k+", 9e8, start=NOV) for h in range(0, HOURS, 5)]
    store(
        pg_tx,
        create_gpu_rows(HOURS * 60, step_minutes=60, start=NOV),
        create_kv_rows(HOURS * 60, 0.3, step_minutes=60, start=NOV),
        usage,
    )
    settings = small_cluster_settings(interval_seconds=3600)
    run_attribution(settings, pg_tx, NOV, DEC)
    client = TestClient(create_app(settings, pg_tx))
    client.headers.update(bearer(create_api_key(pg_tx, "finance")))
    return client


def test_close_is_idempotent_with_the_same_key(client: TestClient) -> None:
    first = client.post("/v1/periods/2026-11/close", headers={"Idempotency-Key": "close-nov-1"})
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "closed" and len(body["content_hash"]) == 64
    assert body["total_cents"] == 861_120  # 4 H100 x $2.99 x 720 h
    retry = client.post("/v1/periods/2026-11/close", headers={"Idempotency-Key": "close-nov-1"})
    assert retry.status_code == 200 and retry.json() == body
    other = client.post("/v1/periods/2026-11/close", headers={"Idempotency-Key": "close-nov-2"})
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    assert body["content_hash"] in other.json()["detail"]


def test_the_statement_of_a_closed_period_is_frozen_and_hashed(client: TestClient) -> None:
    provisional = client.get("/v1/periods/2026-11/statement").json()
    assert provisional["status"] == "open" and provisional["content_hash"] is None
    closed = client.post("/v1/periods/2026-11/close", headers={"Idempotency-Key": "k"}).json()
    statement = client.get("/v1/periods/2026-11/statement").json()
    assert statement["status"] == "closed" and statement["content_hash"] == closed["content_hash"]
    assert statement["lines"] == provisional["lines"]
    assert (
        statement["total_cents"] == sum(x["total_cents"] for x in statement["lines"]) == closed["total_cents"]
    )
    # the hash covers the USD lines; the billed amounts beside them derive from those and the rate
    lines = [Line(**{f: x[f] for f in Line.__slots__}) for x in statement["lines"]]
    assert content_hash("2026-11", lines) == statement["content_hash"]  # anyone can re-check the hash
    listed = client.get("/v1/periods").json()
    assert [(p["period"], p["status"], p["content_hash"]) for p in listed if p["period"] == "2026-11"] == [
        ("2026-11", "closed", closed["content_hash"])
    ]


def test_close_needs_an_idempotency_key(client: TestClient) -> None:
    response = client.post("/v1/periods/2026-11/close")
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["detail"]


def test_an_incomplete_period_cannot_close(client: TestClient) -> None:
    response = client.post("/v1/periods/2026-10/close", headers={"Idempotency-Key": "k"})
    assert response.status_code == 422 and response.json()["error"] == "period_incomplete"


@pytest.mark.parametrize("period", ["2026-13", "26-11", "0000-01", "2026-11-01", "9999-12"])
def test_malformed_or_impossible_periods_are_422(client: TestClient, period: str) -> None:
    for response in (
        client.get(f"/v1/periods/{period}/statement"),
        client.post(f"/v1/periods/{period}/close", headers={"Idempotency-Key": "k"}),
        client.get("/v1/exports/focus.csv", params={"period": period}),
    ):
        assert response.status_code == 422, (period, response.text)
        assert response.json()["error"] == "invalid_window"
