"""Extreme prices in POST /v1/pricing/tiers: far-apart input and output prices against a tier that earns
almost nothing need more than Decimal's default 28 digits for their break-even prices; the API answers
them exactly, and anything it cannot compute is the 422 ``invalid_price_list``, never a 500."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.model.statement import USAGE, Line
from attribution.reports.pricelist import Band, PriceList, PriceListError
from attribution.reports.pricing import analyse_lines
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import END, bearer, create_api_key

SETTINGS = small_cluster_settings(max_window_days=31)
#: the schema's DECIMAL_PATTERN: up to 9 integer digits and 6 decimals
PRICES = st.decimals(min_value=0, max_value=Decimal("999999999.999999"), places=6)


def far_apart(input_price: str, output_price: str) -> dict[str, object]:
    band = {"from_tokens": 0, "input_usd_per_million": input_price, "output_usd_per_million": output_price}
    return {"name": "far apart", "bands": [band]}


@pytest.fixture
def client(pg_tx: sessionmaker[Session]) -> tuple[TestClient, str]:
    """One hour of one tenant sending a single prompt token a minute and generating nothing."""
    usage = [
        create_usage_row(m, "acme", "0-4k", 1e5, prompt_tokens=1, generation_tokens=0) for m in range(60)
    ]
    store(pg_tx, create_gpu_rows(60), create_kv_rows(60, 0.2), usage)
    run_attribution(SETTINGS, pg_tx, T0, END)
    key = create_api_key(pg_tx, "finance")
    return TestClient(create_app(SETTINGS, pg_tx), raise_server_exceptions=False), key


def test_far_apart_prices_give_exact_break_even_prices(client: tuple[TestClient, str]) -> None:
    http, key = client
    response = http.post(
        "/v1/pricing/tiers",
        params={"period": "2026-11"},
        json=far_apart("0.000001", "999999999"),
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    tier = next(t for t in response.json()["tiers"] if t["key"] == ["0-4k"])
    cost = tier["cost_usd_micros"]
    assert cost > 0 and tier["prompt_tokens"] == 60 and tier["generation_tokens"] == 0
    k = Decimal(cost) / (60 * Decimal("0.000001"))
    output = Decimal(tier["break_even"]["output_usd_per_million"])
    # more than 28 significant digits: the default context could not have produced it
    assert len(output.as_tuple().digits) > 28
    with localcontext(prec=60):
        assert output == (Decimal(999999999) * k).quantize(Decimal("1e-12"))
    # the break-even input price recovers the cost to the micro-dollar
    assert abs(Decimal(tier["break_even"]["input_usd_per_million"]) * 60 - cost) < 1


def line(tier: str, cost: int, requests: int, prompt: int, generated: int) -> Line:
    return Line(
        charge_class=USAGE, charge_period="2026-11", pool="small", tenant="t", tier=tier,
        kv_in_use_usd_micros=cost, static_usd_micros=0, idle_usd_micros=0, idle_cold_usd_micros=0,
        idle_warm_usd_micros=0, kv_headroom_usd_micros=0, unmeasured_usd_micros=0,
        total_usd_micros=cost, total_cents=0, kv_token_seconds=0.0, kv_byte_seconds=0.0,
        requests=requests, prompt_tokens=prompt, generation_tokens=generated,
    )  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    input_price=PRICES,
    output_price=PRICES,
    cost=st.integers(min_value=0, max_value=10**15),  # up to a billion dollars in micro-USD
    prompt=st.integers(min_value=0, max_value=10**13),
    generated=st.integers(min_value=0, max_value=10**13),
    requests=st.integers(min_value=1, max_value=10**9),
)
def test_any_allowed_price_list_analyses_or_is_refused_clearly(
    input_price: Decimal, output_price: Decimal, cost: int, prompt: int, generated: int, requests: int
) -> None:
    prices = PriceList("p", "USD", (Band(0, input_price, output_price),))
    try:
        lines = [line("0-4k", cost, requests, prompt, generated)]
        analysis = analyse_lines(lines, SETTINGS, prices, "2026-11", "open", None)
        body = analysis.to_dict()
        analysis.flat_break_even()
    except PriceListError:
        return
    tier = next(t for t in body["tiers"] if t["key"] == ["0-4k"])
    if tier.get("break_even"):
        for side in ("input_usd_per_million", "output_usd_per_million"):
            assert Decimal(tier["break_even"][side]).as_tuple().exponent == -12
