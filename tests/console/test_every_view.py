"""One rounding for every view (issue 16, item 3): every place a person can read a period's money shows
the same cents, for a closed month that was restated after closing and for the open month billing its
corrections. The views: the API (chargeback, statement, line-item CSV, FOCUS CSV, tiers, pricing), the
CLI statement, the HTML and XLSX statements, and the console's tables and chart hover texts."""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections import defaultdict
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.api.app import create_app
from attribution.cli import app
from attribution.demo import close_and_restate
from attribution.reports.pricelist import parse_price_list
from attribution.reports.pricing import analyse_what_if
from attribution.reports.statement_html import build_statement_html
from attribution.reports.xlsx import build_statement_xlsx
from tests.console.seed import MONTH_START, PRICE_LIST, console_settings, seed
from tests.support.api import create_api_key

Cents = dict[str, int]


def _cents(text: str) -> int:
    """``1,234.56`` or ``-0.40`` as integer cents."""
    sign = -1 if text.startswith("-") else 1
    return sign * int(text.lstrip("-").replace(",", "").replace(".", ""))


def _html_tenants(document: str) -> Cents:
    table = document[document.index('id="tenants"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out[re.sub(r"<[^>]+>", "", cells[0])] = _cents(cells[-1])
    return out


@pytest.fixture
def restated(sqlite_factory: sessionmaker[Session], sqlite_url: str) -> tuple[sessionmaker[Session], str]:
    """November closed, then restated (a backdated price): December bills the corrections."""
    settings = console_settings()
    seed(sqlite_factory, settings, close=False)
    _, corrections = close_and_restate(settings, sqlite_factory, MONTH_START)
    assert corrections > 0
    return sqlite_factory, sqlite_url


@pytest.mark.parametrize("period", ["2026-11", "2026-12"])
def test_every_view_of_a_period_shows_the_same_cents(
    restated: tuple[sessionmaker[Session], str], period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, url = restated
    settings = console_settings()
    key = create_api_key(factory, "finance")
    client = TestClient(create_app(settings, factory))
    auth = {"Authorization": f"Bearer {key}"}

    def get(path: str, **params: str) -> Any:
        answer = client.get(path, params={"period": period, **params}, headers=auth)
        assert answer.status_code == 200, answer.text
        return answer

    views: dict[str, Cents] = {}
    chargeback = get("/v1/chargeback").json()
    views["api chargeback"] = {t["tenant"]: t["total_cents"] for t in chargeback["tenants"]}
    statement = get(f"/v1/periods/{period}/statement").json()
    per_tenant: Cents = defaultdict(int)
    for line in statement["lines"]:
        per_tenant[line["tenant"]] += line["total_cents"]
    views["api statement"] = dict(per_tenant)
    per_tenant = defaultdict(int)
    for row in csv.DictReader(io.StringIO(get("/v1/exports/line-items.csv").text)):
        per_tenant[row["tenant"]] += int(row["total_cents"])
    views["line-item csv"] = dict(per_tenant)
    per_tenant = defaultdict(int)
    for row in csv.DictReader(io.StringIO(get("/v1/exports/focus.csv").text)):
        per_tenant[row["BillingAccountId"]] += int(Decimal(row["BilledCost"]) * 100)
    views["focus csv"] = dict(per_tenant)

    monkeypatch.setenv("ATTRIBUTION_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["report", "statement", "--period", period, "--format", "json"])
    assert result.exit_code == 0, result.output
    per_tenant = defaultdict(int)
    for line in json.loads(result.output)["lines"]:
        per_tenant[line["tenant"]] += line["total_cents"]
    views["cli statement"] = dict(per_tenant)
    result = CliRunner().invoke(app, ["report", "chargeback", "--period", period, "--format", "json"])
    assert result.exit_code == 0, result.output
    cli_chargeback = json.loads(result.output)
    assert cli_chargeback["status"] == chargeback["status"]
    assert cli_chargeback["content_hash"] == chargeback["content_hash"]
    views["cli chargeback"] = {t["tenant"]: t["total_cents"] for t in cli_chargeback["tenants"]}

    with factory() as session:
        views["html statement"] = _html_tenants(build_statement_html(session, settings, period))
        book = openpyxl.load_workbook(io.BytesIO(build_statement_xlsx(session, settings, period)))
    rows = [r for r in book["Tenants"].iter_rows(min_row=2, values_only=True) if r[0] != "total"]
    views["xlsx statement"] = {r[0]: int(Decimal(str(r[-1])) * 100) for r in rows}

    client.post("/console/login", data={"key": key})
    page = client.get("/console/", params={"period": period}).text
    views["console overview"] = _html_tenants(page)
    views["console chart"] = _chart_totals(page)

    expected = views["api chargeback"]
    assert any(expected.values())
    for name, found in views.items():
        assert found == expected, name
    _tiers_agree(get, client, key, period, settings)


def _chart_totals(page: str) -> Cents:
    """The stacked bars' hover texts (``tenant, component: 1,234.56``) summed per tenant."""
    out: Cents = defaultdict(int)
    chart = page[page.index('id="chart-tenants"') : page.index("</svg>")]
    for text in re.findall(r"<title>([^<]+: -?[\d,]+\.\d\d)</title>", chart):
        label, amount = text.rsplit(": ", 1)
        out[label.split(", ", 1)[0]] += _cents(amount)
    return dict(out)


def _tiers_agree(get: Any, client: TestClient, key: str, period: str, settings: Any) -> None:
    """Per tier: /v1/tiers, the pricing analysis's cost, and the console's tier table."""
    tiers = {t["tier"]: t["total_cents"] for t in get("/v1/tiers").json()["tiers"]}
    body = tomllib.loads(PRICE_LIST.read_text())
    priced = client.post(
        "/v1/pricing/tiers", params={"period": period}, json=body, headers={"Authorization": f"Bearer {key}"}
    ).json()
    for t in priced["tiers"]:
        assert tiers[t["key"][0]] == t["cost_cents"], t["key"]
    page = client.get("/console/tiers", params={"period": period}).text
    table = page[page.index('<table id="tiers"') : page.index("</tbody>")]
    for row in re.findall(r"<tr><td>(.*?)</td>(.*?)</tr>", table):
        cells = re.findall(r'<td class="n">(.*?)</td>', row[1])
        assert _cents(cells[3]) == tiers[row[0]], row[0]


def test_a_what_if_moves_no_cent_in_a_tier_whose_price_did_not_change(
    restated: tuple[sessionmaker[Session], str],
) -> None:
    factory, _ = restated
    base = tomllib.loads(PRICE_LIST.read_text())
    changed = json.loads(json.dumps(base))
    changed["name"] = "dearer long context"
    changed["bands"][-1]["input_usd_per_million"] = "7.00"  # only the 128k+ band changes
    with factory() as session:
        what_if = analyse_what_if(
            session,
            console_settings(),
            "2026-11",
            parse_price_list(base, "base"),
            parse_price_list(changed, "changed"),
        )
    changes = {row["tier"]: row["margin_change_cents"] for row in what_if.rows()}
    assert changes["128k+"] > 0
    assert {t: c for t, c in changes.items() if t not in ("128k+", "total")} == {
        "0-4k": 0,
        "4k-32k": 0,
        "32k-128k": 0,
    }
    assert changes["total"] == changes["128k+"]


def test_the_overview_of_the_month_billing_corrections_reconciles(
    restated: tuple[sessionmaker[Session], str],
) -> None:
    """Attributed to tenants + platform lines = usage = the bill so far; corrections on their own line."""
    factory, _ = restated
    key = create_api_key(factory, "finance")
    client = TestClient(create_app(console_settings(), factory))
    client.post("/console/login", data={"key": key})
    page = client.get("/console/", params={"period": "2026-12"}).text
    cards = dict(re.findall(r'<div class="label">(.*?)</div><div class="value">(-?[\d,]+\.\d\d) ', page))
    bill = _cents(cards["cluster cost so far (month not complete)"])
    parts = ("attributed to tenants", "idle kept by the platform", "unmeasured")
    assert sum(_cents(cards[p]) for p in parts) == bill
    assert "other platform lines" not in cards
    assert _cents(cards["corrections of closed periods"]) == 28_800
    assert _cents(cards["statement total"]) == bill + 28_800
