"""Statement documents of a two-cluster deployment: the HTML and XLSX statements carry a per cluster and
tenant view whose rows are ``/v1/chargeback?group_by=tenant_cluster`` to the cent and sum to the total,
and their pool rows name the cluster; a one-cluster statement has neither (its documents are unchanged)."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.reports.statement_html import build_statement_html, money
from attribution.reports.xlsx import build_statement_xlsx
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, bearer, create_api_key, store_two_tenants
from tests.support.clusters import seed_two_clusters

PERIOD = T0.strftime("%Y-%m")


def _html_rows(html: str, table_id: str) -> list[list[str]]:
    found = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found is not None, table_id
    return [
        re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", found.group(1))
    ]


def _cents(value: object) -> int:
    cents = Decimal(str(value)) * 100
    assert cents == cents.to_integral_value(), value  # to the cent, nothing finer
    return int(cents)


def test_two_cluster_statements_split_tenants_by_cluster(pg_tx: sessionmaker[Session]) -> None:
    settings = seed_two_clusters(pg_tx)
    client = TestClient(create_app(settings, pg_tx), headers=bearer(create_api_key(pg_tx, "finance")))
    answer = client.get("/v1/chargeback", params={"period": PERIOD, "group_by": "tenant_cluster"}).json()
    expected = {(g["cluster"], g["tenant"]): g["total_cents"] for g in answer["tenants"]}
    assert {c for c, _ in expected} == {"east", "west"} and ("west", "globex") not in expected
    with pg_tx() as session:
        html = build_statement_html(session, settings, PERIOD)
        book = openpyxl.load_workbook(io.BytesIO(build_statement_xlsx(session, settings, PERIOD)))
    rows = _html_rows(html, "cluster-tenants")
    assert {(r[0], r[1]): r[-1] for r in rows} == {k: money(v) for k, v in expected.items()}
    assert sum(expected.values()) == answer["total_cents"]
    assert {r[0] for r in _html_rows(html, "pools")} == {"east", "west"}  # the pool rows name their cluster
    sheet = list(book["Cluster x tenant"].iter_rows(values_only=True))
    assert sheet[0][:2] == ("cluster", "tenant") and sheet[-1][0] == "total"
    found = {(r[0], r[1]): _cents(r[-1]) for r in sheet[1:-1]}  # the workbook stores currency units
    assert found == expected
    assert sum(found.values()) == _cents(sheet[-1][-1]) == answer["total_cents"]
    assert next(book["Pools"].iter_rows(values_only=True))[:2] == ("cluster", "pool")


def test_one_cluster_statements_have_no_cluster_column(pg_tx: sessionmaker[Session]) -> None:
    settings = small_cluster_settings()
    store_two_tenants(pg_tx)
    run_attribution(settings, pg_tx, T0, END)
    with pg_tx() as session:
        html = build_statement_html(session, settings, PERIOD)
        book = openpyxl.load_workbook(io.BytesIO(build_statement_xlsx(session, settings, PERIOD)))
    assert 'id="cluster-tenants"' not in html and ">cluster<" not in html
    assert "Cluster x tenant" not in book.sheetnames
    assert next(book["Pools"].iter_rows(values_only=True))[0] == "pool"
