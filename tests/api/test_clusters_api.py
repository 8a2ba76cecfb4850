"""Two clusters in one ledger through the API: ``cluster=`` filters, ``group_by=cluster`` and
``tenant_cluster`` group, each cluster's lines sum to its own bill, and the parts sum to the whole."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.reports.chargeback import build_chargeback
from attribution.store.tables import ClusterCost
from attribution.timeutil import iso
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import END, MINUTES, bearer, create_api_key

WINDOW = {"start": iso(T0), "end": iso(END)}


def _in(cluster: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "cluster": cluster} for r in rows]


def _two_clusters(factory: sessionmaker[Session]) -> TestClient:
    """east: acme and globex on 4 GPUs; west: acme only, on 8 (more of its bill unallocated)."""
    settings = small_cluster_settings(
        clusters=[{"name": "east"}, {"name": "west", "inventory": {"H100-SXM": 8}}]
    )
    east_usage = [create_usage_row(m, "acme", "0-4k", 120_000.0) for m in range(MINUTES)]
    east_usage += [create_usage_row(m, "globex", "0-4k", 80_000.0) for m in range(MINUTES)]
    west_usage = [create_usage_row(m, "acme", "4k-32k", 60_000.0) for m in range(MINUTES)]
    for cluster, usage in (("east", east_usage), ("west", west_usage)):
        gpus, kv = create_gpu_rows(MINUTES), create_kv_rows(MINUTES, 0.01)
        store(factory, _in(cluster, gpus), _in(cluster, kv), _in(cluster, usage))
    for view in settings.each_cluster():
        run_attribution(view, factory, T0, END)
    token = create_api_key(factory, "finance")
    return TestClient(create_app(settings, factory), headers=bearer(token))


def test_clusters_filter_and_group_and_sum_to_the_whole(pg_tx: sessionmaker[Session]) -> None:
    client = _two_clusters(pg_tx)
    whole = client.get("/v1/chargeback", params=WINDOW).json()
    parts = {
        c: client.get("/v1/chargeback", params={**WINDOW, "cluster": c}).json() for c in ("east", "west")
    }
    by_cluster = client.get("/v1/chargeback", params={**WINDOW, "group_by": "cluster"}).json()["tenants"]
    with pg_tx() as session:
        bills = dict(
            session.execute(
                select(ClusterCost.cluster, func.sum(ClusterCost.cost_usd_micros)).group_by(
                    ClusterCost.cluster
                )
            ).all()
        )
    assert bills["east"] > 0 and bills["west"] > bills["east"]  # west has twice the GPUs
    assert {g["cluster"]: g["total_usd_micros"] for g in by_cluster} == bills  # each cluster's own bill
    assert whole["total_usd_micros"] == sum(bills.values())
    assert sum(p["total_cents"] for p in parts.values()) == whole["total_cents"]  # to the cent
    assert {t["tenant"] for t in parts["west"]["tenants"]} >= {"acme"}
    assert "globex" not in {t["tenant"] for t in parts["west"]["tenants"]}
    pairs = client.get("/v1/chargeback", params={**WINDOW, "group_by": "tenant_cluster"}).json()["tenants"]
    assert ("globex", "east") in {(g["tenant"], g["cluster"]) for g in pairs}
    assert sum(g["total_cents"] for g in pairs) == whole["total_cents"]
    with pg_tx() as session:  # the CLI's chargeback (attribution report chargeback --cluster west)
        west = build_chargeback(session, T0, END, 60, cluster="west")
    assert (west.total_cents, west.total_usd_micros) == (parts["west"]["total_cents"], bills["west"])


def test_line_items_carry_their_cluster_and_an_unknown_cluster_is_a_404(pg_tx: sessionmaker[Session]) -> None:
    client = _two_clusters(pg_tx)
    lines = client.get("/v1/line-items", params={**WINDOW, "cluster": "west", "limit": 1000}).json()["data"]
    assert lines and {x["cluster"] for x in lines} == {"west"}
    assert client.get("/v1/chargeback", params={**WINDOW, "cluster": "north"}).status_code == 404


def test_opencost_aggregates_by_cluster(pg_tx: sessionmaker[Session]) -> None:
    """``aggregate=cluster``: one allocation per cluster, each the cents of that cluster's chargeback."""
    client = _two_clusters(pg_tx)
    params = {
        "window": f"{iso(T0)},{iso(END)}",
        "aggregate": "cluster",
        "includeIdle": "true",
        "shareIdle": "true",
    }
    (found,) = client.get("/allocation", params=params).json()["data"]
    parts = {
        c: client.get("/v1/chargeback", params={**WINDOW, "cluster": c}).json() for c in ("east", "west")
    }
    assert set(found) == {"east", "west"}
    for cluster, allocation in found.items():
        assert allocation["properties"]["cluster"] == cluster
        assert round(allocation["totalCost"] * 100) == parts[cluster]["total_cents"] > 0
