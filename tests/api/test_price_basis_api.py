"""The statement over the API shows each GPU type's price basis, a derived price's parts included."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from tests.support.api import bearer, create_api_key
from tests.support.billing_history import hourly_settings, load

APR, MAY = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
H100_BOUGHT = {
    "gpu_type": "H100-SXM",
    "effective_from": "2026-01-01T00:00:00Z",
    "derived": {
        "purchase_usd": "240000",
        "gpus_per_purchase": 8,
        "residual_usd": "24000",
        "depreciation_months": 36,
        "watts_per_gpu": 700,
        "pue": "1.3",
        "usd_per_kwh": "0.12",
        "colocation_usd_per_month": "1200",
        "gpus_per_colocation": 8,
    },
}


def test_the_statement_shows_the_derived_price_and_its_parts(pg_tx: sessionmaker[Session]) -> None:
    """A node of 8 bought at 240,000 USD, residual 24,000: (240,000 - 24,000) / 8 / 36 = 750 USD per
    GPU-month, as for one GPU at 30,000 less 3,000; April's 4 GPUs cost 4 x 978.624 USD."""
    load(pg_tx, APR, 30 * 24)
    settings = hourly_settings(gpu_prices=[H100_BOUGHT])
    run_attribution(settings, pg_tx, APR, MAY)
    client = TestClient(create_app(settings, pg_tx))
    client.headers.update(bearer(create_api_key(pg_tx, "finance")))
    body = client.get("/v1/periods/2026-04/statement").json()
    assert body["total_usd_micros"] == 4 * 978_624_000
    (h100,) = body["price_basis"]
    assert h100["usd_micros"] == body["total_usd_micros"]
    (price,) = h100["prices"]
    assert (price["basis"], price["effective_from"], price["usd_per_gpu_hour"]) == (
        "derived",
        "2026-01-01T00:00:00Z",
        "1.359200",
    )
    assert [(p["part"], p["usd_per_gpu_hour"]) for p in price["parts"]] == [
        ("capex", "1.041667"),
        ("power", "0.109200"),
        ("colocation", "0.208333"),
    ]
    assert "700 W nameplate x PUE 1.3 x 0.12 USD/kWh" in price["parts"][1]["basis"]
