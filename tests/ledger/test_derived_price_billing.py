"""A month attributed at a price derived from a purchase bills exactly the derived monthly cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.reports.period_statement import build_statement
from attribution.reports.price_basis import price_basis
from attribution.reports.statement_html import build_statement_html
from tests.support.billing_history import hourly_settings, load

APR, MAY = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)

DERIVED: dict[str, Any] = {
    "gpu_type": "H100-SXM",
    "effective_from": "2026-01-01T00:00:00Z",
    "derived": {
        "purchase_usd": "30000",
        "residual_usd": "3000",
        "depreciation_months": 36,
        "watts_per_gpu": 700,
        "pue": "1.3",
        "usd_per_kwh": "0.12",
        "colocation_usd_per_month": "1200",
        "gpus_per_colocation": 8,
    },
}

#: April 2026 (720 h) per GPU: 750 capex + 150 colocation + 720 x 0.1092 power = 978.624 USD; 4 GPUs.
APRIL_BILL_USD_MICROS = 4 * 978_624_000


def test_a_month_at_a_derived_price_bills_the_derived_cost(db_factory: sessionmaker[Session]) -> None:
    """4 H100 (2 serving, 1 unallocated, 1 never sampled) for April: every line, idle and unmeasured
    included, sums to 4 x 978.624 USD, and the statement's price basis shows the parts and that total."""
    load(db_factory, APR, 30 * 24)
    settings = hourly_settings(gpu_prices=[DERIVED])
    summary = run_attribution(settings, db_factory, APR, MAY)
    assert summary.total_usd_micros == summary.cluster_cost_usd_micros == APRIL_BILL_USD_MICROS
    with db_factory() as session:
        statement = build_statement(session, "2026-04")
    assert statement.total_usd_micros == APRIL_BILL_USD_MICROS
    assert statement.total_cents == 391_450  # 3,914.496 USD to the cent
    (h100,) = price_basis(settings, "2026-04")
    assert (h100.gpu_type, h100.gpus, h100.usd_micros) == ("H100-SXM", 4, APRIL_BILL_USD_MICROS)
    (price,) = h100.prices
    assert (price.basis, price.usd_per_gpu_hour) == ("derived", "1.359200")
    parts = {p.part: (p.usd_per_gpu_hour, p.usd_per_gpu_month) for p in price.parts}
    assert parts == {
        "capex": ("1.041667", "750.000000"),
        "power": ("0.109200", "78.624000"),
        "colocation": ("0.208333", "150.000000"),
    }


def test_the_html_statement_shows_the_parts_and_keeps_the_cluster_cost_from_tenants(
    db_factory: sessionmaker[Session],
) -> None:
    load(db_factory, APR, 30 * 24)
    settings = hourly_settings(gpu_prices=[DERIVED])
    run_attribution(settings, db_factory, APR, MAY)
    with db_factory() as session:
        whole = build_statement_html(session, settings, "2026-04")
        tenant = build_statement_html(session, settings, "2026-04", "acme")
    for document in (whole, tenant):
        assert '<section id="price-basis">' in document
        assert "<td>capex</td><td>1.041667</td><td>750.000000</td>" in document
        assert "700 W nameplate x PUE 1.3 x 0.12 USD/kWh" in document
    assert "H100-SXM: 4 GPUs, 3,914.50" in whole
    assert "GPU cost of the period" not in tenant
