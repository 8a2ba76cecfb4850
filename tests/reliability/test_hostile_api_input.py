"""Hostile input to the API, beyond what schemathesis generates (tests/api/test_schemathesis.py) and the
per-endpoint isolation tests (tests/api/test_tenant_isolation.py): SQL injection and LIKE wildcards in
every filter and path name, unicode tricks, 10 kB values, absurd windows and steps, forged headers and
cursors. Against the real app on a real Postgres holding two tenants' hour: no answer is a 500, none of
them returns a line it should not (an injected filter matches nothing; a tenant key never sees the other
tenant), and the data is intact afterwards.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.store.tables import Base
from attribution.timeutil import iso
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, create_api_key, store_two_tenants

WINDOW = {"start": iso(T0), "end": iso(END)}
BIG = "x" * 10_240
#: values a filter or a path name may carry from a hostile (or broken) client
HOSTILE_NAMES = [
    "' OR 1=1 --",
    "acme' OR '1'='1",
    "acme'; DROP TABLE attributed_costs; --",
    'acme" OR ""="',
    "acme\\' OR 1=1 --",
    "%",
    "_",
    "acme%",
    "ac_e",
    "*",
    ".*",
    "acme) OR (1=1",
    "租户🙂",
    "acme\u202e",  # right-to-left override
    "ac\u0301me",  # a combining accent
    "\uff21\uff23\uff2d\uff25",  # fullwidth ACME, which NFKC folds to ACME
    "ACME",
    "acme ",
    " acme",
    "acme\x00",
    "acme\n",
    "\x1b[31m",
    "x" * 200,
    "x" * 201,
    BIG,
]
FILTERED = ["/v1/chargeback", "/v1/line-items", "/v1/exports/line-items.csv"]


class Client:
    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client, self.keys = client, keys
        self.statuses: Counter[int] = Counter()

    def get(
        self, path: str, key: str = "admin", headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        response = self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {self.keys[key]}", **(headers or {})}
        )
        self.statuses[response.status_code] += 1
        assert response.status_code < 500, (path, params, response.status_code, response.text[:500])
        if response.status_code >= 400:  # every refusal is the one error body, with a specific code
            body = response.json()
            assert set(body) == {"error", "detail"} and body["error"] != "internal_error", body
        return response


@pytest.fixture
def api(pg_tx: sessionmaker[Session]) -> Client:
    store_two_tenants(pg_tx)
    settings = small_cluster_settings(max_window_days=31)
    run_attribution(settings, pg_tx, T0, END)
    keys = {s.split(":")[-1]: create_api_key(pg_tx, s) for s in ("admin", "tenant:acme")}
    return Client(TestClient(create_app(settings, pg_tx), raise_server_exceptions=False), keys)


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize("field", ["tenant", "pool", "tier"])
def test_injection_in_filters_matches_nothing_and_breaks_nothing(
    api: Client, pg_tx: sessionmaker[Session], field: str
) -> None:
    before = counts(pg_tx)
    for value in HOSTILE_NAMES:
        for path in FILTERED:
            response = api.get(path, **WINDOW, **{field: value})
            if response.status_code == 200:  # a filter that is a name matches that name, or nothing
                body = response.text if path.endswith(".csv") else json.dumps(response.json())
                assert "globex" not in body and "acme" not in body.replace(value, ""), (path, value)
            else:  # an unknown name is a 404, a malformed one a 422
                assert response.status_code in (404, 422), (path, value, response.status_code)
    assert counts(pg_tx) == before
    assert api.statuses[422] > 0 and api.statuses[404] + api.statuses[200] > 0
    # the control: the same filter with a real name finds lines, so "nothing" above is the filter working
    real = {"tenant": "acme", "pool": "small", "tier": "0-4k"}[field]
    assert api.get("/v1/line-items", **WINDOW, **{field: real}).json()["data"]


def test_injection_in_path_names_is_a_404_or_422(api: Client) -> None:
    for value in HOSTILE_NAMES:
        for template in ("/v1/tenants/{}/usage", "/v1/pools/{}"):
            path = template.format(quote(value, safe=""))
            response = api.get(path, **WINDOW)
            if response.status_code == 200:  # an unknown tenant has no usage: empty, never another's
                points = response.json().get("points", [])
                assert all(p.get("requests", 0) == 0 and p.get("total_usd_micros", 0) == 0 for p in points), (
                    value
                )
            else:
                assert response.status_code in (404, 422), (path, response.status_code)
    for traversal in (
        "/v1/tenants/..%2Fglobex/usage",
        "/v1/tenants/acme%2F..%2Fglobex/usage",
        "/v1/tenants/%2e%2e/usage",
    ):
        assert api.get(traversal, key="acme", **WINDOW).status_code in (403, 404, 422), traversal


def test_a_tenant_key_cannot_reach_another_tenant_by_any_spelling(api: Client) -> None:
    leaks = []
    for value in [
        *HOSTILE_NAMES,
        "globex",
        "GLOBEX",
        "globex ",
        "acme,globex",
        "acme|globex",
        "acme&tenant=globex",
    ]:
        for path in FILTERED:
            response = api.get(path, key="acme", **WINDOW, tenant=value)
            if "globex" in response.text:
                leaks.append((path, value))
            if value != "acme":
                assert response.status_code in (403, 422), (path, value, response.status_code)
        response = api.get(f"/v1/tenants/{quote(value, safe='')}/usage", key="acme", **WINDOW)
        assert response.status_code in (403, 404, 422), (value, response.status_code)
    # the same parameter twice: the second value must not widen the first
    response = api.client.get(
        "/v1/line-items",
        params=[("tenant", "acme"), ("tenant", "globex"), *WINDOW.items()],
        headers={"Authorization": f"Bearer {api.keys['acme']}"},
    )
    assert response.status_code in (200, 403, 422) and "globex" not in response.text
    assert not leaks, leaks


WINDOWS = [
    {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"},
    {"start": "9999-12-31T23:59:59Z", "end": "0001-01-01T00:00:00Z"},
    {"start": iso(END), "end": iso(T0)},
    {"start": iso(T0), "end": iso(T0)},
    {"start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"},  # over max_window_days
    {"start": "+275760-09-13T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
    {"start": "2026-11-01T00:00:00+25:00", "end": "2026-11-02T00:00:00Z"},
    {"start": "2026-11-01", "end": "1e308"},
    {"start": "NaN", "end": "inf"},
    {"start": "2026-11-01T00:00:00", "end": "2026-11-02T00:00:00"},  # no offset
    {"start": BIG, "end": BIG},
    {"period": "99999-01"},
    {"period": "2026-13"},
    {"period": "2026-00"},
    {"period": "0000-01"},
    {"period": "2026-11", **WINDOW},
    {"period": BIG},
]


def test_absurd_windows_steps_and_limits_are_422s(api: Client) -> None:
    paths = [
        "/v1/chargeback",
        "/v1/line-items",
        "/v1/pools",
        "/v1/coverage",
        "/v1/tiers",
        "/v1/tenants/acme/usage",
    ]
    for window in WINDOWS:
        for path in paths:
            assert api.get(path, **window).status_code == 422, (path, window)
    for step in ("0", "-60", "1", "59", "61", "999999999999", "1e3", "3600.5", BIG):
        for path in ("/v1/tenants/acme/usage", "/v1/pools/small"):
            assert api.get(path, **WINDOW, step_seconds=step).status_code == 422, (path, step)
    for limit in ("0", "-1", "1000000000", "1e2", BIG):
        assert api.get("/v1/line-items", **WINDOW, limit=limit).status_code == 422, limit


def test_forged_headers_and_cursors_are_refused_cleanly(api: Client) -> None:
    for token in ("' OR 1=1 --", "attr_' OR '1'='1_x", BIG, "attr_" + "a" * 5000 + "_b", "null", "attr__"):
        response = api.client.get(
            "/v1/chargeback", params=WINDOW, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (token[:40], response.status_code)
    for header in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer  ", "bearer " + api.keys["admin"] + " extra"):
        response = api.client.get("/v1/chargeback", params=WINDOW, headers={"Authorization": header})
        assert response.status_code in (401, 403), (header[:40], response.status_code)
    forged = [
        BIG,
        base64.urlsafe_b64encode(b"' OR 1=1 --").decode(),
        base64.urlsafe_b64encode(
            json.dumps({"after": ["' OR 1=1 --", "", ""], "query": "x"}).encode()
        ).decode(),
        base64.urlsafe_b64encode(json.dumps({"after": [[[[]]]] * 1000, "query": 10**400}).encode()).decode(),
        base64.urlsafe_b64encode(b"[" * 100_000).decode()[:8000],
    ]
    for cursor in forged:
        assert api.get("/v1/line-items", **WINDOW, cursor=cursor).status_code == 422, cursor[:40]
        assert api.get("/v1/line-items", key="acme", **WINDOW, cursor=cursor).status_code == 422


def test_oversized_idempotency_keys_and_periods_on_close(api: Client) -> None:
    headers = {"Authorization": f"Bearer {api.keys['admin']}"}
    for key in (BIG, "' OR 1=1 --" * 30):
        response = api.client.post("/v1/periods/2026-11/close", headers={**headers, "Idempotency-Key": key})
        assert response.status_code == 422, response.text[:200]
    for period in ("' OR 1=1 --", "2026-11'; DROP TABLE periods; --", "%", BIG[:5000]):
        response = api.client.post(
            f"/v1/periods/{quote(period, safe='')}/close",
            headers={**headers, "Idempotency-Key": "k"},
        )
        assert response.status_code in (404, 422), (period[:40], response.status_code)
