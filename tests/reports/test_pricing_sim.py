"""The pricing-tier analysis on the simulator's data, through the whole pipeline: the simulated cluster's
history served by a real Prometheus (the session's shared fixture), collected into Postgres, attributed.

Under one flat price per token (set where it recovers the cluster's cost, as a flat price list must), the
short-context tier earns more than it costs and the long-context tier less: the 4k tier subsidises the
128k one. The break-even prices the analysis proposes make every tier's margin zero, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.model.statement import Line
from attribution.reports.period_statement import build_statement
from attribution.reports.pricelist import Band, PriceList
from attribution.reports.pricing import TierAnalysis, analyse_lines
from attribution.reports.statement_views import cents_half_even
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated

#: The simulator's tiers by total context: chat requests of ~2k tokens in 0-4k; its longest (~110k-token
#: prompts on a 128k-context model) in 32k-128k, and those that reach the full 128k window in 128k+.
SHORT, LONG = "0-4k", ("32k-128k", "128k+")
MARKET = PriceList("market", "USD", (Band(0, Decimal("3"), Decimal("15")),))


@pytest.fixture(scope="module")
def simulated_lines(
    simulated: Simulated, sim_prometheus: LocalPrometheus, pg_server: str
) -> Iterator[tuple[Settings, list[Line]]]:
    with fresh_database(pg_server) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = demo_settings(simulated.spec, url, sim_prometheus.url)
        collect_window(PromClient(sim_prometheus.url), settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        with factory() as session:
            lines = build_statement(session, "2026-11").lines
        engine.dispose()
        yield settings, lines


def analyse(settings: Settings, lines: list[Line], prices: PriceList) -> TierAnalysis:
    return analyse_lines(lines, settings, prices, "2026-11", "open", None)


def test_under_a_flat_price_the_4k_tier_subsidises_the_128k_tier(
    simulated_lines: tuple[Settings, list[Line]],
) -> None:
    settings, lines = simulated_lines
    flat = analyse(settings, lines, MARKET).flat_break_even()
    assert flat is not None
    prices = PriceList("flat", "USD", (Band(0, flat.input_usd_per_million, flat.output_usd_per_million),))
    a = analyse(settings, lines, prices)
    tiers = {t.key[0]: t for t in a.tiers}
    print({k: (t.cost_cents, t.revenue_cents, t.margin_cents) for k, t in tiers.items()})
    assert tiers[SHORT].requests > 1000 and all(tiers[t].requests > 0 for t in LONG)
    # the flat price recovers what the priced tiers cost, to within a cent per tenant x tier cell
    priced_cost = sum(t.cost_usd_micros for t in a.tiers)
    assert abs(a.total.revenue_usd_micros - priced_cost) <= 10_000 * len(a.tenant_tiers)
    flows = {(s.payer, s.receiver): s.usd_micros for s in a.tier_subsidies}
    assert tiers[SHORT].margin_usd_micros > 0
    for long_tier in LONG:
        assert tiers[long_tier].margin_usd_micros < 0
        assert flows[(SHORT, long_tier)] > 0
        assert all(payer != long_tier for payer, _ in flows)  # a long-context tier subsidises nobody
    # why: a long-context token holds far more KV cache for longer, so it costs more to serve
    per_token = {
        k: t.cost_usd_micros / (t.prompt_tokens + t.generation_tokens) for k, t in tiers.items() if t.requests
    }
    assert all(per_token[t] > 2 * per_token[SHORT] for t in LONG)


def test_break_even_prices_make_each_tier_margin_zero(simulated_lines: tuple[Settings, list[Line]]) -> None:
    settings, lines = simulated_lines
    a = analyse(settings, lines, MARKET)
    b = analyse(settings, lines, a.break_even_price_list())
    assert {t.key[0] for t in a.tiers if t.break_even is not None} >= {SHORT, *LONG}
    for before, after in zip(a.tiers, b.tiers, strict=True):
        if before.break_even is None:
            continue
        multiplier = before.break_even.multiplier
        assert multiplier is not None and multiplier > 0
        assert after.revenue_usd_micros != before.revenue_usd_micros or multiplier == 1
        assert cents_half_even(after.margin_usd_micros) == 0, (after.key, after.margin_usd_micros)
