"""A tenant key reads its own tenant's data and nothing else: endpoint by endpoint, through every filter,
grouping, cursor and export. Asking for another tenant is a 403, never an empty or partial answer."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest

from attribution.api.paging import encode_cursor, query_digest
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, Api, bearer

WINDOW = {"start": iso(T0), "end": iso(END)}


def test_the_data_has_two_tenants(api: Api) -> None:
    # the premise of every test here: an admin sees both
    tenants = {t["tenant"] for t in api.get("/v1/chargeback", **WINDOW).json()["tenants"]}
    assert {"acme", "globex"} <= tenants


@pytest.mark.parametrize("group_by", ["tenant", "tenant_tier", "tenant_pool"])
@pytest.mark.parametrize("extra", [{}, {"pool": "small"}, {"tier": "0-4k"}, {"tenant": "acme"}])
def test_chargeback_shows_only_the_own_tenant(api: Api, group_by: str, extra: dict[str, str]) -> None:
    body = api.get("/v1/chargeback", key="acme", group_by=group_by, **WINDOW, **extra).json()
    assert body["tenants"] and {t["tenant"] for t in body["tenants"]} == {"acme"}
    assert body["total_usd_micros"] == sum(t["total_usd_micros"] for t in body["tenants"])
    assert body["cluster_cost_usd_micros"] is None  # the cluster total would reveal the others' sum
    # the amounts finance sees unfiltered: a key or a filter never changes a line's or a group's amount
    finance = api.get("/v1/chargeback", key="finance", group_by=group_by, **WINDOW).json()["tenants"]
    lines = api.get("/v1/line-items", key="finance", limit=1000, **WINDOW).json()["data"]
    kept = [x for x in lines if x["tenant"] == "acme" and all(x[k] == v for k, v in extra.items())]
    whole_groups = {"tenant": set(), "tenant_pool": {"pool"}, "tenant_tier": {"tier"}}[group_by]
    if set(extra) - {"tenant"} <= whole_groups:  # the filter keeps whole groups: the same rows
        groups = [g for g in finance if g["tenant"] == "acme" and all(g[k] == v for k, v in extra.items())]
        assert body["tenants"] == groups
    assert body["total_cents"] == sum(x["total_cents"] for x in kept)
    assert body["total_usd_micros"] == sum(x["total_usd_micros"] for x in kept)


@pytest.mark.parametrize(
    "path", ["/v1/chargeback", "/v1/line-items", "/v1/exports/line-items.csv", "/v1/exports/focus.csv"]
)
@pytest.mark.parametrize("other", ["globex", "__unmeasured__", "nobody"])
def test_naming_another_tenant_is_forbidden(api: Api, path: str, other: str) -> None:
    params = {"period": "2026-11"} if "focus" in path else WINDOW
    response = api.get(path, key="acme", tenant=other, **params)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_line_item_pages_never_leave_the_tenant(api: Api) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {**WINDOW, "limit": 1, **({"cursor": cursor} if cursor else {})}
        body = api.get("/v1/line-items", key="acme", **params).json()
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert pages > 1 and {x["tenant"] for x in seen} == {"acme"}
    everything = api.get("/v1/line-items", **WINDOW, limit=1000).json()["data"]
    assert seen == [x for x in everything if x["tenant"] == "acme"]


def test_a_cursor_from_another_query_is_refused(api: Api) -> None:
    # an admin's cursor for globex, replayed by acme's key: bound to its query, so refused
    page = api.get("/v1/line-items", tenant="globex", limit=1, **WINDOW).json()
    assert page["has_more"]
    response = api.get("/v1/line-items", key="acme", cursor=page["next_cursor"], **WINDOW)
    assert response.status_code == 422 and response.json()["error"] == "invalid_cursor"


def test_a_forged_cursor_cannot_reach_another_tenant(api: Api) -> None:
    # a cursor forged with acme's own query digest but positioned before globex still pages acme only
    issued = api.get("/v1/line-items", key="acme", limit=1, **WINDOW).json()["next_cursor"]
    version = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))["version"]
    digest = query_digest(T0, END, None, "acme", None, None)
    forged = encode_cursor(("aaa", "", ""), digest, version)
    body = api.get("/v1/line-items", key="acme", cursor=forged, limit=100, **WINDOW).json()
    assert body["data"] and {x["tenant"] for x in body["data"]} == {"acme"}
    junk = base64.urlsafe_b64encode(json.dumps({"after": ["globex"], "query": "x"}).encode()).decode()
    assert api.get("/v1/line-items", key="acme", cursor=junk, **WINDOW).status_code == 422
    assert api.get("/v1/line-items", key="acme", cursor="%%%", **WINDOW).status_code == 422


def test_exports_hold_only_the_own_tenant(api: Api) -> None:
    lines = list(
        csv.DictReader(io.StringIO(api.get("/v1/exports/line-items.csv", key="acme", **WINDOW).text))
    )
    assert lines and {r["tenant"] for r in lines} == {"acme"}
    focus = api.get("/v1/exports/focus.csv", key="acme", period="2026-11").text
    rows = list(csv.DictReader(io.StringIO(focus)))
    assert rows and {r["BillingAccountId"] for r in rows} == {"acme"}
    admin_rows = list(csv.DictReader(io.StringIO(api.get("/v1/exports/focus.csv", period="2026-11").text)))
    assert {r["BillingAccountId"] for r in admin_rows} > {"acme"}


def test_usage_of_another_tenant_is_forbidden(api: Api) -> None:
    assert api.get("/v1/tenants/acme/usage", key="acme", **WINDOW).status_code == 200
    for other in ("globex", "nobody"):
        response = api.get(f"/v1/tenants/{other}/usage", key="acme", **WINDOW)
        assert response.status_code == 403, other


@pytest.mark.parametrize(
    "path",
    [
        "/v1/pools",
        "/v1/pools/small",
        "/v1/coverage",
        "/v1/tiers",
        "/v1/periods",
        "/v1/periods/2026-11/statement",
    ],
)
def test_cluster_wide_views_are_closed_to_tenant_keys(api: Api, path: str) -> None:
    response = api.get(path, key="acme", **WINDOW)
    assert response.status_code == 403


def test_a_tenant_key_cannot_close_a_period_or_price_tiers(api: Api) -> None:
    response = api.post("/v1/periods/2026-11/close", key="acme", headers={"Idempotency-Key": "k"})
    assert response.status_code == 403
    response = api.client.post("/v1/pricing/tiers?period=2026-11", json={}, headers=bearer(api.keys["acme"]))
    assert response.status_code == 403
