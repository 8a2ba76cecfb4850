"""Hostile cursors, cursors across an attribution run, series buckets, exact tier prices, unknown pools."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.store.lines import results_version
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributionRun
from attribution.store.writes import insert_all
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, Api, api_over, bearer, stored_line
from tests.support.lines import insert_lines

WINDOW = {"start": iso(T0), "end": iso(END)}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_deeply_nested_or_long_cursor_is_422_not_500(api: Api) -> None:
    for raw in (b"[" * 1400, b'{"after":' + b"[" * 300 + b"]" * 300 + b"}", b'"' + b"x" * 600 + b'"'):
        cursor = b64(raw)
        assert len(cursor) <= 2000  # within the parameter's limit: the decoder must refuse it
        response = api.get("/v1/line-items", cursor=cursor, **WINDOW)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_cursor"


def test_a_cursor_from_before_an_attribution_run_is_refused(api: Api) -> None:
    first = api.get("/v1/line-items", limit=1, **WINDOW).json()
    assert first["has_more"]
    assert api.get("/v1/line-items", limit=1, cursor=first["next_cursor"], **WINDOW).status_code == 200
    run_attribution(api.settings, api.factory, T0, END)
    response = api.get("/v1/line-items", limit=1, cursor=first["next_cursor"], **WINDOW)
    assert response.status_code == 409 and response.json()["error"] == "stale_cursor"
    # starting over works
    again = api.get("/v1/line-items", limit=1, **WINDOW).json()
    assert api.get("/v1/line-items", limit=1, cursor=again["next_cursor"], **WINDOW).status_code == 200


def test_the_results_version_sees_a_run_that_commits_out_of_order(pg_tx: sessionmaker[Session]) -> None:
    def run(run_id: int) -> None:
        row = {"id": run_id, "ran_at": T0, "window_start": T0, "window_end": END, "lines": 0}
        with unit_of_work(pg_tx) as session:
            insert_all(session, AttributionRun, [{**row, "total_usd_micros": 0}])

    run(10)
    with pg_tx() as session:
        before = results_version(session)
    run(7)  # an earlier id, committed later (a concurrent run)
    with pg_tx() as session:
        assert results_version(session) != before
        assert results_version(session)[0] == 10


def test_series_buckets_start_at_the_window_not_the_epoch(pg_tx: sessionmaker[Session]) -> None:
    api = api_over(pg_tx, {})
    with unit_of_work(pg_tx) as session:
        insert_lines(session, [stored_line("A", "0-4k", 7000, minute=13 * 60)])
    noon = {"start": iso(T0 + timedelta(hours=12)), "end": iso(T0 + timedelta(hours=36))}
    body = api.get("/v1/tenants/A/usage", key="finance", step_seconds=86400, **noon).json()
    assert [p["start"] for p in body["points"]] == [noon["start"]]  # not midnight, before the window
    assert body["points"][0]["total_usd_micros"] == 7000


def test_tier_prices_are_exact_decimal_strings(api: Api) -> None:
    for tier in api.get("/v1/tiers", key="finance", **WINDOW).json()["tiers"]:
        if tier["requests"]:
            per_request = Decimal(tier["usd_per_request"])
            exact = Decimal(tier["total_usd_micros"]) / tier["requests"] / 1_000_000
            assert abs(per_request - exact) <= Decimal("5e-10")
            exact_million = Decimal(tier["total_usd_micros"]) / tier["tokens"]
            assert abs(Decimal(tier["usd_per_million_tokens"]) - exact_million) <= Decimal("5e-7")
            assert isinstance(tier["usd_per_request"], str) and "e" not in tier["usd_per_request"].lower()
        else:
            assert tier["usd_per_request"] is None


def test_tiers_of_an_unknown_pool_are_404(api: Api) -> None:
    response = api.get("/v1/tiers", key="finance", pool="nope", **WINDOW)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert api.get("/v1/tiers", key="finance", pool="small", **WINDOW).status_code == 200
    flat = {"bands": [{"from_tokens": 0, "input_usd_per_million": "3", "output_usd_per_million": "15"}]}
    response = api.client.post(
        "/v1/pricing/tiers",
        params={"period": "2026-11", "pool": "nope"},
        json=flat,
        headers=bearer(api.keys["finance"]),
    )
    assert response.status_code == 404 and response.json()["error"] == "not_found"
