"""Budgets of one cluster: a budget naming a ``cluster`` counts only that cluster's lines, so its spend is
``/v1/chargeback?cluster=`` (with ``tenant=`` for a tenant's budget) to the micro-dollar and the cent, its
projection runs over that cluster's attributed intervals, and the API, CLI and webhook body name it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.budgets.check import CheckResult, alert_body
from attribution.budgets.status import budget_statuses
from attribution.cli.budgets import _line
from attribution.config import load_settings
from attribution.errors import ConfigError
from attribution.scheduler.selfmetrics import CollectorMetrics
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.timeutil import period_window
from tests.builders import T0
from tests.support.api import bearer, create_api_key
from tests.support.clusters import seed_two_clusters

PERIOD = T0.strftime("%Y-%m")
BUDGETS = [
    {"tenant": "acme", "cluster": "west", "monthly_usd": "1.00"},
    {"cluster": "east", "monthly_usd": "2.00"},
    {"tenant": "acme", "monthly_usd": "3.00"},  # every cluster's acme lines
    {"monthly_usd": "4.00"},
]


def _charged(client: TestClient, **params: str) -> tuple[int, int]:
    body = client.get("/v1/chargeback", params={"period": PERIOD, **params}).json()
    return body["total_usd_micros"], body["total_cents"]


def test_a_cluster_budget_spends_the_cluster_filtered_chargeback(pg_tx: sessionmaker[Session]) -> None:
    settings = seed_two_clusters(pg_tx, budgets=BUDGETS)
    client = TestClient(create_app(settings, pg_tx), headers=bearer(create_api_key(pg_tx, "finance")))
    answer = client.get("/v1/budgets", params={"period": PERIOD})
    assert answer.status_code == 200, answer.text
    found = {b["budget"]: b for b in answer.json()["budgets"]}
    assert list(found) == ["tenant:acme@west", "cluster@east", "tenant:acme", "cluster"]
    expected = {
        "tenant:acme@west": _charged(client, tenant="acme", cluster="west"),
        "cluster@east": _charged(client, cluster="east"),
        "tenant:acme": _charged(client, tenant="acme"),
        "cluster": _charged(client),
    }
    for name, (micros, cents) in expected.items():
        assert (found[name]["spent_usd_micros"], found[name]["spent_cents"]) == (micros, cents) != (0, 0), (
            name
        )
    west, east = expected["tenant:acme@west"][0], _charged(client, tenant="acme", cluster="east")[0]
    assert west + east == expected["tenant:acme"][0]  # the clusters' acme budgets split the whole one
    assert [found[n]["cluster"] for n in found] == ["west", "east", None, None]
    with pg_tx() as session:
        _, west_intervals = cluster_cost_usd_micros(session, *period_window(PERIOD), "west")
        statuses = budget_statuses(session, settings, PERIOD)
    assert found["tenant:acme@west"]["attributed_seconds"] == west_intervals * settings.interval_seconds > 0
    by_name = {s.budget: s for s in statuses}
    assert _line(by_name["tenant:acme@west"]).startswith(
        f"tenant:acme@west  {PERIOD} (open)  budget 1.000000"
    )
    crossing = by_name["tenant:acme@west"].crossed[0]
    assert alert_body(by_name["tenant:acme@west"], crossing, datetime.now(UTC))["cluster"] == "west"
    assert "cluster" not in alert_body(by_name["cluster"], by_name["cluster"].crossed[0], datetime.now(UTC))
    metrics = CollectorMetrics()
    metrics.budgets(CheckResult(statuses))
    text = metrics.render()
    ratio = by_name["tenant:acme@west"].spent_ratio
    labels = 'budget="tenant:acme@west",tenant="acme",cluster="west"'
    assert f"attribution_budget_spent_ratio{{{labels}}} {ratio}\n" in text
    assert 'attribution_budget_spent_ratio{budget="tenant:acme",tenant="acme"} ' in text  # no cluster label


@pytest.mark.parametrize(
    ("budgets", "clusters", "named"),
    [
        ([{"cluster": "north", "monthly_usd": "1"}], [{"name": "east"}], "no cluster named 'north'"),
        ([{"cluster": "default", "monthly_usd": "1"}], [], None),  # the one cluster, by its name
        (
            [{"cluster": "east", "monthly_usd": "1"}, {"cluster": "east", "monthly_usd": "2"}],
            [{"name": "east"}],
            "one budget per tenant",
        ),
    ],
)
def test_a_budget_names_a_cluster_of_the_deployment(
    budgets: list[dict[str, Any]], clusters: list[dict[str, Any]], named: str | None
) -> None:
    values = {"database_url": "sqlite://", "budgets": budgets, "clusters": clusters}
    if named is None:
        assert load_settings(**values).budgets[0].name == "cluster@default"
        return
    with pytest.raises(ConfigError, match=named) as caught:
        load_settings(**values)
    assert "\n" not in caught.value.detail
