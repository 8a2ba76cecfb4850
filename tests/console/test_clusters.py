"""The console's cluster selector: on the tiers and pools pages of a two-cluster deployment each cluster's
figures are its own statement lines and its own bill, the clusters' parts sum to the whole to the cent, an
unknown cluster is a 404 page; a one-cluster deployment shows no selector at all."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.config import Settings
from attribution.model.statement import USAGE
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_html import money
from attribution.reports.statement_views import cents_half_even
from attribution.store.tables import ClusterCost
from tests.builders import T0
from tests.console.seed import console_settings
from tests.support.api import create_api_key
from tests.support.clusters import CLUSTERS, seed_two_clusters

PERIOD = T0.strftime("%Y-%m")


def _signed_in(factory: sessionmaker[Session], settings: Settings) -> TestClient:
    client = TestClient(create_app(settings, factory), base_url="http://console.test")
    key = create_api_key(factory, "finance")
    assert client.post("/console/login", data={"key": key}, follow_redirects=False).status_code == 303
    return client


def _tier_total(html: str) -> str:
    found = re.search(
        r'<table id="tiers".*?<tfoot><tr><td colspan="4">total</td><td class="n">([^<]*)</td>', html, re.S
    )
    assert found is not None, html
    return found.group(1)


def _bill(html: str) -> str:
    found = re.search(r'id="outside-pools">The bill for the period[^<]*? is ([-0-9,.]+);', html)
    assert found is not None, html
    return found.group(1)


def test_tiers_and_pools_of_one_cluster_are_its_own(pg_tx: sessionmaker[Session]) -> None:
    client = _signed_in(pg_tx, seed_two_clusters(pg_tx))
    with pg_tx() as session:
        lines = build_statement(session, PERIOD).lines
        bills = dict(
            session.execute(
                select(ClusterCost.cluster, func.sum(ClusterCost.cost_usd_micros)).group_by(
                    ClusterCost.cluster
                )
            ).all()
        )
    usage = {
        c: sum(x.total_cents for x in lines if x.charge_class == USAGE and x.cluster == c) for c in CLUSTERS
    }
    assert usage["east"] > 0 and usage["west"] > 0
    whole = client.get("/console/tiers", params={"period": PERIOD})
    assert whole.status_code == 200 and '<select id="cluster" name="cluster">' in whole.text
    assert _tier_total(whole.text) == money(usage["east"] + usage["west"])
    for cluster in CLUSTERS:
        tiers = client.get("/console/tiers", params={"period": PERIOD, "cluster": cluster})
        assert tiers.status_code == 200 and f'<option value="{cluster}" selected>' in tiers.text
        assert _tier_total(tiers.text) == money(usage[cluster])
        pools = client.get("/console/pools", params={"period": PERIOD, "cluster": cluster})
        assert pools.status_code == 200
        assert _bill(pools.text) == money(cents_half_even(int(bills[cluster])))
    assert _bill(client.get("/console/pools", params={"period": PERIOD}).text) == money(
        cents_half_even(int(sum(bills.values())))
    )
    assert client.get("/console/pools", params={"period": PERIOD, "cluster": "north"}).status_code == 404
    assert client.get("/console/tiers", params={"period": PERIOD, "cluster": "north"}).status_code == 404


def test_one_cluster_shows_no_selector(pg_tx: sessionmaker[Session]) -> None:
    client = _signed_in(pg_tx, console_settings())
    for path in ("/console/tiers", "/console/pools"):
        answer = client.get(path, params={"period": PERIOD})
        assert answer.status_code == 200 and 'id="cluster"' not in answer.text, path
