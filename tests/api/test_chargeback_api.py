"""The reporting API: chargeback from stored results, one error body, no 500s for bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.localprom import free_port
from attribution.store.session import make_engine, make_sessionmaker
from attribution.timeutil import iso
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import bearer, create_api_key

MINUTES = 60
END = T0 + timedelta(minutes=MINUTES)


@pytest.fixture
def client(pg_tx: sessionmaker[Session]) -> TestClient:
    usage = [create_usage_row(m, "acme", "0-4k", 200_000.0) for m in range(MINUTES)]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, 0.01), usage)
    settings = small_cluster_settings(max_window_days=31)
    run_attribution(settings, pg_tx, T0, END)
    client = TestClient(create_app(settings, pg_tx), raise_server_exceptions=False)
    client.headers.update(bearer(create_api_key(pg_tx, "admin")))
    return client


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_chargeback_reconciles_to_the_cent(client: TestClient) -> None:
    response = client.get("/v1/chargeback", params={"start": iso(T0), "end": iso(END)})
    assert response.status_code == 200
    body = response.json()
    # 4 H100 x $2.99 for one hour
    assert body["total_usd_micros"] == body["cluster_cost_usd_micros"] == 11_960_000
    assert body["total_cents"] == 1196 == sum(t["total_cents"] for t in body["tenants"])
    assert body["complete"] is True
    assert {t["tenant"] for t in body["tenants"]} == {"acme", "__unmeasured__"}


@pytest.mark.parametrize(
    ("params", "error", "detail"),
    [
        ({"start": iso(END), "end": iso(T0)}, "invalid_window", "is not after start"),
        ({"start": "last tuesday", "end": iso(END)}, "invalid_window", "not an ISO 8601 time"),
        ({"start": "2026-11-02T00:00:00", "end": iso(END)}, "invalid_window", "has no UTC offset"),
        ({"start": iso(T0), "end": iso(T0 + timedelta(days=40))}, "invalid_window", "exceeds the maximum"),
        ({"start": iso(T0)}, "invalid_window", "give period=YYYY-MM or both start and end"),
        ({"period": "2026-13"}, "invalid_window", "period must look like YYYY-MM"),
        ({"period": "0000-01"}, "invalid_window", "out of range"),
        (
            {"start": "9999-12-31T23:59:59Z", "end": "9999-12-31T23:59:59.5Z"},
            "invalid_window",
            "out of range",
        ),
        ({"period": "2026-11", "start": iso(T0)}, "invalid_window", "not both"),
        ({"start": iso(T0), "end": iso(END), "group_by": "nope"}, "invalid_request", "group_by"),
    ],
)
def test_bad_windows_get_422_with_the_error_body(
    client: TestClient, params: dict[str, str], error: str, detail: str
) -> None:
    response = client.get("/v1/chargeback", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == error
    assert detail in response.json()["detail"]


def test_database_down_is_503_not_500() -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(small_cluster_settings(), make_sessionmaker(make_engine(unreachable)))
    client = TestClient(app, raise_server_exceptions=False)
    # a well-formed key: checking it needs the database, which is down
    headers = bearer("attr_0123456789ab_" + "x" * 43)
    response = client.get("/v1/chargeback", params={"start": iso(T0), "end": iso(END)}, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"


def test_openapi_declares_the_error_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    responses = schema["paths"]["/v1/chargeback"]["get"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
