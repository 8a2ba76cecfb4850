"""Pricing-tier arithmetic: exact revenue, whole-request repricing, break-even, subsidies, clear errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.statement import CORRECTION, USAGE, Line
from attribution.reports.pricelist import Band, PriceList, PriceListError, load_price_list, parse_price_list
from attribution.reports.pricing import TierAnalysis, analyse_lines
from tests.builders import small_cluster_settings

SETTINGS = small_cluster_settings()
TIERS = SETTINGS.tiers.names  # 0-4k, 4k-32k, 32k-128k, 128k+
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "pricing"


def line(tenant: str, tier: str, cost: int, requests: int, prompt: int, generated: int, **kw: Any) -> Line:
    return Line(
        charge_class=kw.get("charge_class", USAGE), charge_period="2026-11", pool=kw.get("pool", "small"),
        tenant=tenant, tier=tier, kv_in_use_usd_micros=cost, static_usd_micros=0, idle_usd_micros=0,
        idle_cold_usd_micros=0, idle_warm_usd_micros=0, kv_headroom_usd_micros=0, unmeasured_usd_micros=0,
        total_usd_micros=cost, total_cents=0, kv_token_seconds=0.0, kv_byte_seconds=0.0, requests=requests,
        prompt_tokens=prompt, generation_tokens=generated,
    )  # fmt: skip


def analyse(lines: list[Line], price_list: PriceList) -> TierAnalysis:
    return analyse_lines(lines, SETTINGS, price_list, "2026-11", "open", None)


def flat(input_price: str, output_price: str) -> PriceList:
    return PriceList("flat", "USD", (Band(0, Decimal(input_price), Decimal(output_price)),))


def test_a_threshold_reprices_the_whole_request() -> None:
    """A 128k+ tier request at the long-context band pays the higher price on every token, not only on
    those past the threshold; a 32k-128k one pays the base price."""
    prices = load_price_list(DEPLOY / "long-context-128k.toml")
    a = analyse(
        [
            line("t", "32k-128k", 0, 1, 100_000, 1_000),
            line("t", "128k+", 0, 1, 140_000, 1_000),
        ],
        prices,
    )
    tiers = {t.key[0]: t for t in a.tiers}
    assert tiers["32k-128k"].revenue_usd_micros == 100_000 * 3 + 1_000 * 15
    assert tiers["128k+"].revenue_usd_micros == 140_000 * 6 + 1_000 * Decimal("22.5")
    assert not tiers["32k-128k"].straddles_threshold and not tiers["128k+"].straddles_threshold


def test_a_threshold_inside_a_stored_tier_is_flagged_and_priced_by_the_mean() -> None:
    prices = PriceList("t", "USD", (Band(0, Decimal(1), Decimal(1)), Band(200_000, Decimal(2), Decimal(2))))
    low = analyse([line("t", "128k+", 0, 2, 300_000, 0)], prices)  # mean 150k: below 200k
    high = analyse([line("t", "128k+", 0, 2, 500_000, 0)], prices)  # mean 250k: above
    assert low.tiers[3].straddles_threshold and low.tiers[3].revenue_usd_micros == 300_000
    assert high.tiers[3].revenue_usd_micros == 1_000_000
    assert not low.tiers[0].straddles_threshold


def test_unpriced_cost_and_corrections() -> None:
    """Idle or unmeasured lines outside every tier cost money but carry no tokens; corrections of other
    periods are not this period's cost."""
    a = analyse(
        [
            line("a", "0-4k", 1_000_000, 10, 10_000, 1_000),
            line("__unmeasured__", "__none__", 500_000, 0, 0, 0),
            line("a", "0-4k", 7_000_000, 0, 0, 0, charge_class=CORRECTION),
        ],
        flat("1", "1"),
    )
    assert a.unpriced.cost_usd_micros == 500_000 and a.total.cost_usd_micros == 1_500_000
    assert a.total.revenue_usd_micros == 11_000


tokens = st.integers(min_value=0, max_value=10**9)
cells = st.lists(
    st.tuples(
        st.sampled_from(["acme", "globex", "hooli", "umbrella"]),
        st.sampled_from(TIERS),
        st.integers(min_value=0, max_value=10**12),  # cost, micro-USD
        st.integers(min_value=0, max_value=10**5),  # requests
        tokens,
        tokens,
    ),
    min_size=1,
    max_size=12,
)
prices = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(cells, prices, prices)
def test_views_add_up_and_revenue_is_exact(
    raw: list[Any], input_price: Decimal, output_price: Decimal
) -> None:
    a = analyse([line(*c) for c in raw], flat(str(input_price), str(output_price)))
    exact = sum(p * input_price + g * output_price for *_, p, g in raw)
    assert abs(a.total.revenue_usd_micros - exact) <= Decimal(len(a.tenant_tiers)) / 2  # rounded per cell
    for rows in (a.tiers, a.tenants):
        assert sum(r.cost_usd_micros for r in rows) + a.unpriced.cost_usd_micros == a.total.cost_usd_micros
        assert sum(r.cost_cents for r in rows) + a.unpriced.cost_cents == a.total.cost_cents
        assert sum(r.revenue_cents for r in rows) == a.total.revenue_cents
        assert sum(r.margin_cents for r in rows) - a.unpriced.cost_cents == a.total.margin_cents
    assert a.total.cost_usd_micros == sum(c[2] for c in raw)


@settings(max_examples=150, deadline=None)
@given(cells, prices, prices)
def test_break_even_prices_make_every_tier_margin_zero_to_the_cent(
    raw: list[Any], input_price: Decimal, output_price: Decimal
) -> None:
    a = analyse([line(*c) for c in raw], flat(str(input_price), str(output_price)))
    b = analyse([line(*c) for c in raw], a.break_even_price_list())
    for before, after in zip(a.tiers, b.tiers, strict=True):
        if before.break_even is None:  # a tier without tokens has no price that recovers its cost
            assert before.prompt_tokens + before.generation_tokens == 0
            continue
        assert after.cost_usd_micros == before.cost_usd_micros
        assert abs(after.margin_usd_micros) < 5_000, after.key  # under half a cent: zero to the cent


@settings(max_examples=150, deadline=None)
@given(cells, prices, prices)
def test_subsidies_move_only_what_gains_can_cover(
    raw: list[Any], input_price: Decimal, output_price: Decimal
) -> None:
    a = analyse([line(*c) for c in raw], flat(str(input_price), str(output_price)))
    for rows, flows in ((a.tiers, a.tier_subsidies), (a.tenants, a.tenant_subsidies)):
        margin = {r.key[-1]: r.margin_usd_micros for r in rows}
        gains = sum(m for m in margin.values() if m > 0)
        losses = -sum(m for m in margin.values() if m < 0)
        assert sum(f.usd_micros for f in flows) == min(gains, losses)
        for f in flows:
            assert margin[f.payer] > 0 > margin[f.receiver] and f.usd_micros > 0
        for name, m in margin.items():  # nobody pays more than it gains or receives more than it loses
            assert sum(f.usd_micros for f in flows if f.payer == name) <= max(m, 0)
            assert sum(f.usd_micros for f in flows if f.receiver == name) <= max(-m, 0)


def test_the_example_price_lists_load() -> None:
    names = {p.name: load_price_list(p) for p in DEPLOY.glob("*.toml")}
    assert {"flat.toml", "long-context-128k.toml", "what-if-32k.toml"} <= set(names)
    assert names["long-context-128k.toml"].thresholds_tokens == [131072]
    assert names["flat.toml"].thresholds_tokens == []


BASE = {"from_tokens": 0, "input_usd_per_million": "3", "output_usd_per_million": "15"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs at least one"),
        ({"bands": []}, "needs at least one"),
        ({"bands": [BASE], "colour": "red"}, "unknown keys"),
        ({"bands": [BASE], "currency": "EUR"}, "currency 'EUR' is not the statements' USD"),
        ({"bands": [{**BASE, "from_tokens": 5}]}, r"bands.0.from_tokens must be 0"),
        ({"bands": [BASE, {**BASE, "from_tokens": 0}]}, r"bands.1.from_tokens must be above"),
        ({"bands": [{**BASE, "input_usd_per_million": "-1"}]}, r"bands.0.input_usd_per_million: must be a"),
        ({"bands": [{**BASE, "input_usd_per_million": "0.0000001"}]}, "more than 6 decimal places"),
        ({"bands": [{**BASE, "output_usd_per_million": "cheap"}]}, "is not a decimal number"),
        ({"bands": [{**BASE, "output_usd_per_million": True}]}, "must be a decimal number"),
        ({"bands": [{**BASE, "from_tokens": "0"}]}, "from_tokens: must be a whole number"),
        ({"bands": [{"from_tokens": 0}]}, "missing keys"),
        ({"bands": ["x"]}, "bands.0: must be a table"),
    ],
)
def test_a_bad_price_list_says_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PriceListError, match=message) as caught:
        parse_price_list(data)
    assert caught.value.status_code == 422 and caught.value.code == "invalid_price_list"


def test_a_price_list_file_that_is_missing_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(PriceListError, match="does not exist"):
        load_price_list(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[[bands]\n")
    with pytest.raises(PriceListError, match="is not valid TOML"):
        load_price_list(tmp_path / "bad.toml")
