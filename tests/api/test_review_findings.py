"""Low findings of the adversarial review: a read-only database during close, tenant keys probing pools
and reading cluster-wide counts, and an ``Idempotency-Key`` given twice."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from attribution.api.app import create_app
from attribution.store.session import normalise_url, unit_of_work
from attribution.store.tables import Coverage
from tests.builders import T0
from tests.support.api import Api, bearer

WINDOW = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-02T01:00:00Z"}  # T0, one hour


@pytest.mark.committed
def test_closing_on_a_read_only_database_is_a_503_with_the_error_body(api: Api, pg_url: str) -> None:
    """A real read-only Postgres session (``default_transaction_read_only``), as on a replica or a
    database put in read-only mode for maintenance: the key is read, the close cannot write."""
    engine = create_engine(
        normalise_url(pg_url), connect_args={"options": "-c default_transaction_read_only=on"}
    )
    client = TestClient(create_app(api.settings, sessionmaker(engine)), raise_server_exceptions=False)
    answer = client.post(
        "/v1/periods/2026-11/close",
        headers={**bearer(api.keys["finance"]), "Idempotency-Key": "k1"},
    )
    engine.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": "database_unavailable", "detail": "database unavailable"}
    assert "read-only" not in answer.text  # the driver's text stays in the server log


def test_a_tenant_key_cannot_tell_a_hidden_pool_from_a_missing_one(api: Api) -> None:
    hidden = api.get("/v1/chargeback", "acme", pool="__cluster__", **WINDOW)  # exists, not acme's
    missing = api.get("/v1/chargeback", "acme", pool="no-such-pool", **WINDOW)
    assert (hidden.status_code, missing.status_code) == (404, 404), (hidden.text, missing.text)
    assert hidden.json()["error"] == missing.json()["error"] == "not_found"
    assert hidden.json()["detail"].replace("__cluster__", "X") == missing.json()["detail"].replace(
        "no-such-pool", "X"
    )
    for path in ("/v1/line-items", "/v1/exports/line-items.csv"):
        assert api.get(path, "acme", pool="__cluster__", **WINDOW).status_code == 404
    own = api.get("/v1/chargeback", "acme", pool="small", **WINDOW)
    assert own.status_code == 200 and own.json()["tenants"]
    assert api.get("/v1/chargeback", "finance", pool="__cluster__", **WINDOW).status_code == 200


def test_a_tenant_key_sees_no_cluster_wide_counts(api: Api) -> None:
    with unit_of_work(api.factory) as session:  # the gpu collector saw 12 series in the first minute
        session.add(Coverage(source="gpu", interval_start=T0, series=12))
    mine = api.get("/v1/chargeback", "acme", **WINDOW).json()
    assert mine["cluster_cost_usd_micros"] is None and mine["coverage_intervals"] == {}
    assert api.get("/v1/chargeback", "finance", **WINDOW).json()["coverage_intervals"]


def test_two_idempotency_keys_are_a_400(api: Api) -> None:
    answer = api.client.post(
        "/v1/periods/2026-11/close",
        headers=[
            ("Authorization", f"Bearer {api.keys['finance']}"),
            ("Idempotency-Key", "a"),
            ("Idempotency-Key", "b"),
        ],
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "duplicate_header" and "Idempotency-Key" in answer.json()["detail"]
