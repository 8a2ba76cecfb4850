"""Chargeback by group, line items, usage series, pools, coverage and tiers: each reconciles with the
stored results it comes from, to the micro-dollar and the cent."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from attribution.ledger.attribute import run_attribution
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, PoolCost, TenantUsage
from attribution.store.writes import upsert
from attribution.timeutil import iso
from tests.builders import T0, create_usage_row
from tests.support.api import END, Api, ResultsClock, bearer

WINDOW = {"start": iso(T0), "end": iso(END)}
#: 4 H100 x $2.99 for one hour
CLUSTER_USD_MICROS = 11_960_000


@pytest.mark.parametrize("group_by", ["tenant", "tenant_tier", "tenant_pool"])
def test_every_grouping_sums_to_the_cluster_cost(api: Api, group_by: str) -> None:
    body = api.get("/v1/chargeback", group_by=group_by, **WINDOW).json()
    assert body["group_by"] == group_by
    assert body["total_usd_micros"] == body["cluster_cost_usd_micros"] == CLUSTER_USD_MICROS
    assert body["total_cents"] == 1196 == sum(g["total_cents"] for g in body["tenants"])
    for g in body["tenants"]:
        parts = ("kv_in_use_cents", "static_cents", "idle_cents", "unmeasured_cents")
        assert sum(g[p] for p in parts) == g["total_cents"]
        assert (g["tier"] is not None) == (group_by == "tenant_tier")
        assert (g["pool"] is not None) == (group_by == "tenant_pool")


def test_groups_split_the_tenant_total(api: Api) -> None:
    by_tenant = {t["tenant"]: t for t in api.get("/v1/chargeback", **WINDOW).json()["tenants"]}
    tiers = api.get("/v1/chargeback", group_by="tenant_tier", **WINDOW).json()["tenants"]
    acme = [t for t in tiers if t["tenant"] == "acme"]
    assert {t["tier"] for t in acme} == {"0-4k", "4k-32k"}
    assert sum(t["total_usd_micros"] for t in acme) == by_tenant["acme"]["total_usd_micros"]
    assert sum(t["requests"] for t in acme) == by_tenant["acme"]["requests"] == 4 * 60
    assert by_tenant["globex"]["requests"] == 2 * 60


def test_filters_narrow_the_answer(api: Api) -> None:
    tier = api.get("/v1/chargeback", tier="4k-32k", **WINDOW).json()
    assert [t["tenant"] for t in tier["tenants"]] == ["acme"] and tier["tenants"][0]["requests"] == 60
    pool = api.get("/v1/chargeback", pool="small", **WINDOW).json()
    assert {t["tenant"] for t in pool["tenants"]} == {"acme", "globex"}
    assert pool["total_usd_micros"] < CLUSTER_USD_MICROS  # the unallocated GPUs are outside pool small


@pytest.mark.parametrize(("param", "value"), [("tenant", "nobody"), ("pool", "nope")])
def test_unknown_tenant_or_pool_is_404(api: Api, param: str, value: str) -> None:
    for path in ("/v1/chargeback", "/v1/line-items", "/v1/exports/line-items.csv"):
        response = api.get(path, **WINDOW, **{param: value})
        assert response.status_code == 404 and response.json()["error"] == "not_found", path
    assert api.get("/v1/tenants/nobody/usage", **WINDOW).status_code == 404
    assert api.get("/v1/pools/nope", **WINDOW).status_code == 404


def test_a_period_is_a_window(api: Api) -> None:
    body = api.get("/v1/chargeback", period="2026-11").json()
    assert (body["start"], body["end"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert body["total_usd_micros"] == CLUSTER_USD_MICROS and body["complete"] is False


def test_line_items_page_through_every_line_once(api: Api) -> None:
    everything = api.get("/v1/line-items", **WINDOW, limit=1000).json()
    assert everything["has_more"] is False and everything["next_cursor"] is None
    keys = [(x["tenant"], x["pool"], x["tier"]) for x in everything["data"]]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert sum(x["total_usd_micros"] for x in everything["data"]) == CLUSTER_USD_MICROS
    assert sum(x["total_cents"] for x in everything["data"]) == 1196
    pages, cursor = [], None
    while True:
        body = api.get("/v1/line-items", **WINDOW, limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert body["limit"] == 2 and len(body["data"]) <= 2
        pages += body["data"]
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert pages == everything["data"]


def test_page_size_is_capped(api: Api) -> None:
    assert api.get("/v1/line-items", **WINDOW, limit=10_000).json()["limit"] == api.settings.api.max_page_size
    assert api.get("/v1/line-items", **WINDOW).json()["limit"] == api.settings.api.default_page_size
    assert api.get("/v1/line-items", **WINDOW, limit=0).status_code == 422
    assert api.get("/v1/line-items", **WINDOW, limit=10_001).status_code == 422


def test_line_items_csv_matches_the_json(api: Api) -> None:
    data = api.get("/v1/line-items", **WINDOW, limit=1000).json()["data"]
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/exports/line-items.csv", **WINDOW).text)))
    assert [
        (r["tenant"], r["pool"], r["tier"], int(r["total_usd_micros"]), int(r["total_cents"])) for r in rows
    ] == [(x["tenant"], x["pool"], x["tier"], x["total_usd_micros"], x["total_cents"]) for x in data]
    assert len({r["line_id"] for r in rows}) == len(rows)


def test_usage_series_sums_to_the_chargeback(api: Api) -> None:
    acme = next(t for t in api.get("/v1/chargeback", **WINDOW).json()["tenants"] if t["tenant"] == "acme")
    body = api.get("/v1/tenants/acme/usage", **WINDOW, step_seconds=3600).json()
    assert body["step_seconds"] == 3600 and len(body["points"]) == 1
    assert body["points"][0]["start"] == iso(T0)
    assert sum(p["total_usd_micros"] for p in body["points"]) == acme["total_usd_micros"]
    assert sum(p["requests"] for p in body["points"]) == acme["requests"]


def test_usage_step_must_fit_the_grain_and_the_point_limit(api: Api) -> None:
    grain = max(api.settings.interval_seconds, api.settings.line_grain_seconds)
    if grain > 60:
        response = api.get("/v1/tenants/acme/usage", **WINDOW, step_seconds=grain + 60)
        assert response.status_code == 422 and "multiple" in response.json()["detail"]
    long = {"start": iso(T0), "end": iso(T0 + timedelta(days=30))}
    response = api.get("/v1/tenants/acme/usage", **long, step_seconds=grain)
    assert response.status_code == (422 if 30 * 86400 // grain > api.settings.api.max_series_points else 200)


def test_pools_show_the_cost_structure(api: Api) -> None:
    body = api.get("/v1/pools", **WINDOW).json()
    (pool,) = body["pools"]
    assert pool["pool"] == "small" and pool["intervals"] == 60 and pool["mean_gpu_count"] == 2
    # KV in use, KV free and static partition the pool's cost (MODEL.md)
    parts = pool["kv_in_use_usd_micros"] + pool["kv_free_usd_micros"] + pool["static_usd_micros"]
    assert parts == pool["cost_usd_micros"] > 0
    assert pool["kv_usage_ratio"] == pytest.approx(0.01)
    assert pool["gpu_util_percent"] == pytest.approx(50.0)
    with api.factory() as session:
        stored = session.scalar(select(func.sum(PoolCost.cost_usd_micros)))
    assert stored == pool["cost_usd_micros"]
    detail = api.get("/v1/pools/small", **WINDOW, step_seconds=1800).json()
    assert [p["start"] for p in detail["series"]] == [iso(T0), iso(T0 + timedelta(minutes=30))]
    assert sum(p["cost_usd_micros"] for p in detail["series"]) == pool["cost_usd_micros"]


def test_coverage_reports_what_was_collected(api: Api) -> None:
    body = api.get("/v1/coverage", **WINDOW).json()
    assert body["intervals_in_window"] == 60 and body["intervals_attributed"] == 60
    assert body["sources"] == []  # the builders store telemetry directly, no collector recorded coverage
    assert [(p["pool"], p["engine_active"], p["missing"]) for p in body["pools"]] == [("small", 60, 0)]


def test_coverage_shows_a_pool_s_gateway_gap(api: Api) -> None:
    """The engine works in minutes 10-12 and the gateway's rows are flat there (zero token-seconds):
    the pool's gateway coverage is missing for those three minutes. A gap is final (its cost is on
    ``__unmeasured__``, like a source's ``missing``), so it does not make the window incomplete: every
    interval was collected and attributed."""
    with unit_of_work(api.factory) as session:
        session.execute(
            TenantUsage.__table__.update()
            .where(
                TenantUsage.interval_start >= T0 + timedelta(minutes=10),
                TenantUsage.interval_start < T0 + timedelta(minutes=13),
            )
            .values(kv_token_seconds=0.0)
        )
    body = api.get("/v1/coverage", **WINDOW).json()
    (pool,) = body["pools"]
    assert (pool["pool"], pool["engine_active"], pool["present"], pool["missing"]) == ("small", 60, 57, 3)
    assert pool["gaps"] == [
        {
            "start": iso(T0 + timedelta(minutes=10)),
            "end": iso(T0 + timedelta(minutes=13)),
            "status": "missing",
        }
    ]
    assert body["complete"] is True


def test_tiers_sum_to_the_cluster_cost(api: Api) -> None:
    body = api.get("/v1/tiers", **WINDOW).json()
    assert body["total_usd_micros"] == CLUSTER_USD_MICROS
    names = [t["tier"] for t in body["tiers"]]
    assert names[:2] == ["0-4k", "4k-32k"]


def test_a_new_attribution_run_is_seen_once_the_bound_has_passed(api: Api) -> None:
    """The window's lines are kept between requests, but a run that stores new lines replaces them for
    every request after ``api.results_fresh_seconds`` (attribution/api/warm.py)."""
    results = ResultsClock(api.client)
    before = {t["tenant"]: t for t in api.get("/v1/chargeback", **WINDOW).json()["tenants"]}
    api.get("/v1/chargeback", **WINDOW)  # served from memory
    reads = api.client.app.state.lines.reads  # type: ignore[attr-defined]
    late = [create_usage_row(m, "initech", "0-4k", 500_000.0) for m in range(60)]
    with unit_of_work(api.factory) as session:
        upsert(session, TenantUsage, late)
    run_attribution(api.settings, api.factory, T0, END)
    results.pass_bound()
    after = {t["tenant"]: t for t in api.get("/v1/chargeback", **WINDOW).json()["tenants"]}
    assert api.client.app.state.lines.reads == reads + 1  # type: ignore[attr-defined]
    assert "initech" in after and "initech" not in before
    assert after["acme"]["total_usd_micros"] < before["acme"]["total_usd_micros"]
    with api.factory() as session:
        stored = session.scalar(select(func.sum(AttributedCost.total_usd_micros)))
    assert sum(t["total_usd_micros"] for t in after.values()) == stored == CLUSTER_USD_MICROS


FLAT = {
    "name": "flat",
    "bands": [{"from_tokens": 0, "input_usd_per_million": "3.00", "output_usd_per_million": "15.00"}],
}


def test_pricing_analysis_prices_the_period_against_a_price_list(api: Api) -> None:
    response = api.client.post(
        "/v1/pricing/tiers", params={"period": "2026-11"}, json=FLAT, headers=bearer(api.keys["finance"])
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == "2026-11" and body["price_list"] == "flat" and body["provisional"] is True
    assert body["total"]["cost_usd_micros"] == CLUSTER_USD_MICROS
    # a flat list: $3 per million prompt tokens, $15 per million generated (micro-USD per token: 3, 15)
    # each minute: acme 1,000 + 9,000 prompt tokens, globex 1,000; 100 generated tokens each row
    assert sum(t["requests"] for t in body["tiers"]) == 6 * 60
    assert body["total"]["revenue_usd_micros"] == 60 * (3 * 11_000 + 15 * 300) == 2_250_000


@pytest.mark.parametrize(
    ("price_list", "detail"),
    [
        ({"bands": []}, "bands"),
        (
            {"bands": [{"from_tokens": 5, "input_usd_per_million": "1", "output_usd_per_million": "1"}]},
            "must be 0",
        ),
        (
            {"bands": [{"from_tokens": 0, "input_usd_per_million": "1e3", "output_usd_per_million": "1"}]},
            "input",
        ),
        ({"currency": "EUR", "bands": FLAT["bands"]}, "currency"),
    ],
)
def test_a_bad_price_list_is_422(api: Api, price_list: dict[str, object], detail: str) -> None:
    response = api.client.post(
        "/v1/pricing/tiers", params={"period": "2026-11"}, json=price_list, headers=bearer(api.keys["admin"])
    )
    assert response.status_code == 422 and detail in response.json()["detail"]
