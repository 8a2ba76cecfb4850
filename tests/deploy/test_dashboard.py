"""The Grafana dashboard: its SQL runs on the migrated test database (analyst views, coverage) and gives
the stored totals; its PromQL parses on a real Prometheus and names only metrics the service exports;
every data source it uses is provisioned."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.store.collection_state import SourceCoverage
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost
from attribution.store.writes import upsert
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.deploy.manifests import DEPLOY, documents
from tests.support.service_metrics import api_exposition, scheduler_exposition

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "attribution.json"
MINUTES = 180
FROM, TO = T0 - timedelta(days=1), T0 + timedelta(days=1)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def targets(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["uid"] == f"attribution-{kind}":
                yield panel["title"], target


def expand_sql(sql: str, tenants: list[str]) -> str:
    """Grafana's Postgres macros as Grafana expands them for the range [FROM, TO] and ``$tenant``."""
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (FROM, TO))
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{start}' AND '{end}'", sql)
    sql = sql.replace("$tenant", ", ".join(f"'{t}'" for t in tenants))
    assert "$" not in sql, f"a macro the test does not expand: {sql}"
    return sql


def test_every_data_source_is_provisioned_and_every_panel_has_queries() -> None:
    (provisioned,) = documents(DEPLOY / "grafana" / "provisioning" / "datasources" / "attribution.yaml")
    uids = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    board = dashboard()
    assert board["uid"] == "attribution" and board["panels"]
    used = [board["templating"]["list"][0]["datasource"]]
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        used += [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
    for ref in used:
        assert uids[ref["uid"]] == ref["type"], ref
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for subject in ("cost per tenant", "idle share", "coverage", "collector lag"):
        assert subject in titles


@pytest.fixture
def attributed(pg_tx: sessionmaker[Session]) -> sessionmaker[Session]:
    settings = small_cluster_settings()
    usage = [
        create_usage_row(m, ("acme", "globex")[m % 2], ("0-4k", "4k-32k")[m % 3 % 2], 600.0 + 11 * m)
        for m in range(MINUTES)
        if m % 4
    ]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, 0.35), usage)
    coverage = [
        {
            "collector": collector,
            "source": "prometheus",
            "interval_start": T0 + timedelta(minutes=m),
            "status": "missing" if collector == "kv" and m % 10 == 0 else "present",
            "series": 3,
            "rows": 3,
            "collected_at": T0 + timedelta(hours=4),
        }
        for collector in ("gpu", "kv", "gateway")
        for m in range(MINUTES)
    ]
    with unit_of_work(pg_tx) as session:
        upsert(session, SourceCoverage, coverage)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    return pg_tx


def test_the_dashboards_sql_runs_on_the_database_and_adds_up(attributed: sessionmaker[Session]) -> None:
    variable = dashboard()["templating"]["list"][0]
    results: dict[str, list[Any]] = {}
    with attributed() as session:
        tenants = list(session.scalars(text(expand_sql(variable["query"], []))))
        assert set(tenants) >= {"acme", "globex"}
        stored_usd = Decimal(session.scalar(select(func.sum(AttributedCost.total_usd_micros)))) / 1_000_000
        sqls = list(targets("postgres"))
        assert len(sqls) >= 7
        for title, target in sqls:
            result = session.execute(text(expand_sql(target["rawSql"], tenants)))
            rows = result.all()
            assert rows, title
            if target["format"] == "time_series":
                assert list(result.keys())[:2] == ["time", "metric"], title
                assert all(r[0].tzinfo is not None for r in rows), title
            results[title] = rows
    # exact: numeric division of integer micro-USD, no float on the way
    assert results["Cost in range"][0][0] == stored_usd > 0
    assert sum(r[1] for r in results["Cost per tenant in range"]) == stored_usd
    assert 0 < float(results["Idle share"][0][0]) < 1
    assert float(results["Telemetry coverage"][0][0]) == pytest.approx(1 - 18 / (3 * MINUTES))


def exported_names() -> set[str]:
    names = set()
    for exposition in (scheduler_exposition(), api_exposition()):
        for family in text_string_to_metric_families(exposition):
            names |= {sample.name for sample in family.samples}
    return names


def test_the_dashboards_promql_parses_and_names_exported_metrics(tmp_path: Path) -> None:
    exported = exported_names()
    exprs = [(title, t["expr"]) for title, t in targets("prometheus")]
    assert len(exprs) >= 8
    with LocalPrometheus(tmp_path / "tsdb") as prom:

        def query(expr: str) -> dict[str, Any]:
            expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
            answer: dict[str, Any] = requests.get(
                f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10
            ).json()
            return answer

        assert query("sum by (x (up)")["status"] == "error"  # a broken expression is refused
        for title, expr in exprs:
            answer = query(expr)
            assert answer["status"] == "success", (title, expr, answer)
            for name in re.findall(r"\battribution_[a-z_]+", expr):
                assert name in exported, (title, name)
