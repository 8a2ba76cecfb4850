"""VictoriaMetrics as the query source, end to end: the same simulated history served by Prometheus and by
VictoriaMetrics, collected, attributed and reported, gives the same bill.

tests/collectors/test_watermarks.py shows the collected rows agree (floats to 1e-9); this carries them
through the memory-time model to the stored lines, the chargeback and the daily views, which must be
equal to the micro-dollar: the scale-out design (docs/scale-out.md) puts a VictoriaMetrics cluster (or
Thanos, Mimir) in front of many Prometheus servers, and a bill must not depend on that choice.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.reports.chargeback import build_chargeback
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated, collection_settings
from tests.support.victoria import LocalVictoriaMetrics


def bill(factory: sessionmaker[Session], interval_seconds: int) -> dict[str, Any]:
    with factory() as session:
        lines = session.execute(
            select(
                AttributedCost.interval_start,
                AttributedCost.pool,
                AttributedCost.tenant,
                AttributedCost.tier,
                AttributedCost.total_usd_micros,
                AttributedCost.kv_in_use_usd_micros,
                AttributedCost.idle_usd_micros,
                AttributedCost.requests,
                AttributedCost.prompt_tokens,
                AttributedCost.generation_tokens,
            ).order_by(
                AttributedCost.interval_start, AttributedCost.pool, AttributedCost.tenant, AttributedCost.tier
            )
        ).all()
        chargeback = build_chargeback(session, START, END, interval_seconds).to_dict()
        for tenant in chargeback["tenants"]:  # memory-time is a float of float samples: compared apart
            chargeback.setdefault("memory_gib_hours", []).append(tenant.pop("memory_gib_hours"))
            chargeback.setdefault("kv_token_seconds", []).append(tenant.pop("kv_token_seconds"))
        daily = session.execute(
            text("SELECT tenant, total_usd_micros, requests FROM daily_tenant_costs ORDER BY tenant")
        ).all()
    return {"lines": lines, "chargeback": chargeback, "daily": daily}


def test_victoriametrics_and_prometheus_give_the_same_bill(
    simulated: Simulated, sim_prometheus: LocalPrometheus, sim_victoria: LocalVictoriaMetrics, pg_server: str
) -> None:
    bills = []
    for source in (sim_prometheus.url, sim_victoria.url):
        with fresh_database(pg_server) as url:
            upgrade(url)
            engine = make_engine(url)
            factory = make_sessionmaker(engine)
            settings = collection_settings(simulated, url, source)
            collect_window(PromClient(source), settings, factory, START, END)
            run_attribution(settings, factory, START, END)
            bills.append(bill(factory, settings.interval_seconds))
            engine.dispose()
    from_prometheus, from_victoria = bills
    assert len(from_prometheus["lines"]) > 20
    assert from_prometheus["chargeback"]["total_usd_micros"] > 0
    for measure in ("memory_gib_hours", "kv_token_seconds"):
        assert from_prometheus["chargeback"].pop(measure) == pytest.approx(
            from_victoria["chargeback"].pop(measure), rel=1e-9
        )
    assert from_prometheus == from_victoria  # every line, every micro-dollar, every request
