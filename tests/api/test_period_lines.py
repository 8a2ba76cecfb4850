"""Line items, chargeback and line-items.csv of a period are its statement, to the cent.

On the reports' billing history: November closed, then a late backfill for November 3rd re-attributed
(restating November's stored lines and billing the difference as corrections in December), December
open. A billing system that re-imports November by ``line_id`` must get exactly what was issued.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from attribution.api.app import create_app
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import CLOSED, LineSet, line_id
from attribution.timeutil import period_window
from tests.support.api import Api, create_api_key
from tests.support.billing_history import NOV, History, history  # noqa: F401  (the fixture, built for these tests)

Key = tuple[str, str, str, str, str]


@pytest.fixture(scope="module")
def billing(history: History) -> Iterator[Api]:  # noqa: F811
    keys = {s.split(":")[-1]: create_api_key(history.factory, s) for s in ("finance", "tenant:acme")}
    client = TestClient(create_app(history.settings, history.factory), raise_server_exceptions=False)
    yield Api(client, history.settings, history.factory, keys)


def every_line(api: Api, key: str = "finance", **params: str) -> tuple[list[dict[str, object]], dict]:
    """All pages of /v1/line-items, and the first page's envelope."""
    lines, cursor, first = [], None, None
    while True:
        body = api.get("/v1/line-items", key=key, limit=7, **params, **({"cursor": cursor} if cursor else {}))
        assert body.status_code == 200, body.text
        page = body.json()
        first = first or page
        lines += page["data"]
        if not page["has_more"]:
            return lines, first
        cursor = page["next_cursor"]


def statement_lines(api: Api, period: str) -> dict[Key, tuple[int, int]]:
    body = api.get(f"/v1/periods/{period}/statement", key="finance").json()
    return {
        (x["charge_class"], x["charge_period"], x["pool"], x["tenant"], x["tier"]): (
            x["total_cents"],
            x["total_usd_micros"],
        )
        for x in body["lines"]
    }


def by_key(lines: list[dict[str, object]]) -> dict[Key, tuple[int, int]]:
    return {
        (str(x["charge_class"]), str(x["charge_period"]), str(x["pool"]), str(x["tenant"]), str(x["tier"])): (
            int(str(x["total_cents"])),
            int(str(x["total_usd_micros"])),
        )
        for x in lines
    }


def test_a_closed_period_serves_its_issued_statement(billing: Api, history: History) -> None:  # noqa: F811
    lines, envelope = every_line(billing, period="2026-11")
    assert (envelope["status"], envelope["provisional"]) == ("closed", False)
    assert envelope["content_hash"] == history.november_hash
    assert by_key(lines) == statement_lines(billing, "2026-11")
    # the stored lines were restated since (the late tenant): the raw window shows them, the period not
    assert "late" not in {x["tenant"] for x in lines}
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in period_window("2026-11"))
    raw, raw_envelope = every_line(billing, start=start, end=end)
    assert raw_envelope["provisional"] is True and raw_envelope["status"] == "provisional"
    assert "late" in {x["tenant"] for x in raw}
    assert {x["line_id"] for x in raw}.isdisjoint(x["line_id"] for x in lines)


def test_a_closed_periods_chargeback_is_its_statement(billing: Api) -> None:
    statement = billing.get("/v1/periods/2026-11/statement", key="finance").json()
    per_tenant: dict[str, int] = defaultdict(int)
    for x in statement["lines"]:
        per_tenant[x["tenant"]] += x["total_cents"]
    body = billing.get("/v1/chargeback", key="finance", period="2026-11").json()
    assert body["status"] == "closed" and body["total_cents"] == statement["total_cents"]
    assert {t["tenant"]: t["total_cents"] for t in body["tenants"]} == per_tenant
    own = billing.get("/v1/chargeback", key="acme", period="2026-11").json()["tenants"]
    assert [t["total_cents"] for t in own] == [per_tenant["acme"]]


def test_an_open_period_includes_the_corrections_billed_in_it(billing: Api) -> None:
    lines, envelope = every_line(billing, period="2026-12")
    assert (envelope["status"], envelope["provisional"]) == ("open", True)
    corrections = [x for x in lines if x["charge_class"] == "correction"]
    assert corrections and {x["charge_period"] for x in corrections} == {"2026-11"}
    assert "late" in {x["tenant"] for x in corrections}
    assert by_key(lines) == statement_lines(billing, "2026-12")
    statement = billing.get("/v1/periods/2026-12/statement", key="finance").json()
    body = billing.get("/v1/chargeback", key="finance", period="2026-12").json()
    assert body["total_cents"] == statement["total_cents"] == sum(x["total_cents"] for x in lines)


@pytest.mark.parametrize("period", ["2026-11", "2026-12"])
def test_the_csv_is_the_json(billing: Api, period: str) -> None:
    lines, envelope = every_line(billing, period=period)
    rows = list(
        csv.DictReader(
            io.StringIO(billing.get("/v1/exports/line-items.csv", key="finance", period=period).text)
        )
    )
    fields = ("line_id", "tenant", "pool", "tier", "charge_class", "total_usd_micros", "total_cents")
    assert [tuple(str(r[f]) for f in fields) for r in rows] == [
        tuple(str(x[f]) for f in fields) for x in lines
    ]
    assert [r["charge_period"] for r in rows] == [x["charge_period"] for x in lines]
    assert {r["status"] for r in rows} == {envelope["status"]}
    assert len({r["line_id"] for r in rows}) == len(rows)


def test_an_issued_line_id_is_bound_to_the_statements_content() -> None:
    line = LineItem("acme", "small", "0-4k", 1, 1, 1, 1.0, 1.0, 5, 0, 0, 0, 5, False, "usage", "2026-11", 0)
    start, end = NOV, period_window("2026-11")[1]
    issued = LineSet(start, end, "2026-11", CLOSED, "a" * 64, [line])
    restated = LineSet(start, end, "2026-11", CLOSED, "b" * 64, [line])
    assert line_id(issued, line) == line_id(issued, line) != line_id(restated, line)
