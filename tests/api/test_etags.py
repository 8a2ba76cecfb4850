"""Cached answers carry a strong ETag of the attribution run and the answer's identity; a client that
holds the current answer gets a 304 without a body, and a new run gives a new tag."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from tests.builders import T0, create_usage_row, store
from tests.support.api import END, Api, ResultsClock, bearer

WINDOW = {"start": T0.isoformat(), "end": END.isoformat()}


def _conditional(api: Api, path: str, etag: str, key: str = "admin", **params: str) -> int:
    response = api.client.get(
        path, params={**WINDOW, **params}, headers={**bearer(api.keys[key]), "If-None-Match": etag}
    )
    if response.status_code == 304:
        assert response.content == b"", "a 304 has no body"
    return response.status_code


def test_a_matching_if_none_match_gives_304_without_a_body(api: Api) -> None:
    first = api.get("/v1/chargeback", **WINDOW)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert _conditional(api, "/v1/chargeback", etag) == 304
    assert _conditional(api, "/v1/chargeback", f'W/{etag}, "other"') == 304
    assert _conditional(api, "/v1/chargeback", '"not-this-one"') == 200
    # another grouping is another answer
    assert _conditional(api, "/v1/chargeback", etag, group_by="tenant_tier") == 200


def test_the_etag_is_strong_and_quoted(api: Api) -> None:
    for path in ("/v1/chargeback", "/v1/line-items"):
        etag = api.get(path, **WINDOW).headers["ETag"]
        assert not etag.startswith("W/"), "a weak tag"
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2


def test_a_new_attribution_run_gives_200_with_a_new_etag(api: Api, pg_tx: sessionmaker[Session]) -> None:
    results = ResultsClock(api.client)
    first = api.get("/v1/chargeback", **WINDOW)
    etag = first.headers["ETag"]
    assert _conditional(api, "/v1/chargeback", etag) == 304
    store(pg_tx, [], [], [create_usage_row(5, "initech", "0-4k", 90_000.0, requests=2)])
    run_attribution(api.settings, pg_tx, T0, END)
    assert _conditional(api, "/v1/chargeback", etag) == 304, "within api.results_fresh_seconds"
    results.pass_bound()
    second = api.client.get(
        "/v1/chargeback", params=WINDOW, headers={**bearer(api.keys["admin"]), "If-None-Match": etag}
    )
    assert second.status_code == 200
    assert second.headers["ETag"] != etag
    assert "initech" in {t["tenant"] for t in second.json()["tenants"]}
    assert _conditional(api, "/v1/chargeback", second.headers["ETag"]) == 304


def test_a_tenant_key_and_an_admin_key_get_different_etags(api: Api) -> None:
    admin = api.get("/v1/chargeback", **WINDOW)
    tenant = api.get("/v1/chargeback", key="acme", **WINDOW)
    admin_acme = api.get("/v1/chargeback", tenant="acme", **WINDOW)
    assert admin.status_code == tenant.status_code == admin_acme.status_code == 200
    tags = {admin.headers["ETag"], tenant.headers["ETag"], admin_acme.headers["ETag"]}
    assert len(tags) == 3, "a tenant's view, the admin's filtered view and the whole view share a tag"
    # the admin's tag does not validate the tenant's answer, nor the other way round
    assert _conditional(api, "/v1/chargeback", admin.headers["ETag"], key="acme") == 200
    assert _conditional(api, "/v1/chargeback", tenant.headers["ETag"]) == 200
    assert _conditional(api, "/v1/chargeback", tenant.headers["ETag"], key="acme") == 304


def test_line_item_pages_are_tagged_by_page(api: Api) -> None:
    first = api.get("/v1/line-items", limit=1, **WINDOW)
    body = first.json()
    assert body["has_more"]
    second = api.get("/v1/line-items", limit=1, cursor=body["next_cursor"], **WINDOW)
    assert first.headers["ETag"] != second.headers["ETag"]
    assert _conditional(api, "/v1/line-items", first.headers["ETag"], limit="1") == 304
    assert _conditional(api, "/v1/line-items", first.headers["ETag"], limit="2") == 200


def test_cached_bytes_equal_a_fresh_uncached_computation(api: Api, pg_tx: sessionmaker[Session]) -> None:
    """The bytes served from the cache (third request) are the bytes a server without a cache computes."""
    uncached_settings = api.settings.model_copy(
        update={"api": api.settings.api.model_copy(update={"cached_windows": 0})}
    )
    fresh = TestClient(create_app(uncached_settings, pg_tx), raise_server_exceptions=False)
    for key, params in (("admin", {}), ("acme", {}), ("admin", {"group_by": "tenant_pool"})):
        for _ in range(3):
            cached = api.get("/v1/chargeback", key=key, **WINDOW, **params)
        computed = fresh.get("/v1/chargeback", params={**WINDOW, **params}, headers=bearer(api.keys[key]))
        assert cached.status_code == computed.status_code == 200
        assert cached.content == computed.content
        assert cached.headers["ETag"] == computed.headers["ETag"]
    page = api.get("/v1/line-items", **WINDOW)
    again = fresh.get("/v1/line-items", params=WINDOW, headers=bearer(api.keys["admin"]))
    assert page.content == again.content


#: The answers kept per run by attribution/api/answers.py: path, key, and query beyond the window.
KEPT = (
    ("/v1/tenants/acme/usage", "admin", {}),
    ("/v1/tiers", "finance", {}),
    ("/v1/periods/2026-11/statement", "finance", {}),
)


def test_usage_tiers_and_statements_are_computed_once_per_run_and_tagged(
    api: Api, pg_tx: sessionmaker[Session]
) -> None:
    answers = api.client.app.state.answers  # type: ignore[attr-defined]
    tags = {}
    for path, key, extra in KEPT:
        first = api.get(path, key, **WINDOW, **extra)
        assert first.status_code == 200, first.text
        etag = tags[path] = first.headers["ETag"]
        assert not etag.startswith("W/") and etag.startswith('"')
        computed = answers.computed
        again = api.get(path, key, **WINDOW, **extra)
        assert again.content == first.content and again.headers["ETag"] == etag
        assert answers.computed == computed, f"{path} computed again within one run"
        assert _conditional(api, path, etag, key, **extra) == 304
    store(pg_tx, [], [], [create_usage_row(5, "acme", "0-4k", 90_000.0, requests=2)])
    run_attribution(api.settings, pg_tx, T0, END)
    for path, key, extra in KEPT:
        assert _conditional(api, path, tags[path], key, **extra) == 200, f"{path} stale after a run"
