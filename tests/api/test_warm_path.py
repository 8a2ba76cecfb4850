"""The warm chargeback (attribution/api/warm.py): a kept answer is served from memory, with the route's
bytes and headers, only to the key that was given it, only while the key is verified, and a run that
commits is seen once ``api.results_fresh_seconds`` have passed (on a real Postgres)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.api import cache as cache_module
from attribution.api.app import create_app
from attribution.api.warm import Observed, WarmAnswers
from attribution.ledger.attribute import run_attribution
from attribution.store.apikeys import revoke_key
from attribution.store.session import unit_of_work
from tests.builders import T0, create_usage_row, store
from tests.support.api import END, Api, KeyClock, ResultsClock, bearer

WINDOW = {"start": T0.isoformat(), "end": END.isoformat()}
PATH = "/v1/chargeback"


def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> object:
        raise AssertionError("a warm request read the results' version")

    monkeypatch.setattr(cache_module, "results_state", refuse)


def _warm(api: Api) -> WarmAnswers:
    warm = api.client.app.state.warm  # type: ignore[attr-defined]
    assert isinstance(warm, WarmAnswers)
    return warm


def test_a_kept_chargeback_is_served_from_memory_with_the_routes_bytes_and_headers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = api.get(PATH, **WINDOW)
    assert first.status_code == 200
    _no_database(monkeypatch)
    again = api.get(PATH, **WINDOW)
    assert _warm(api).served == 1
    assert again.status_code == 200 and again.content == first.content
    assert dict(again.headers) == dict(first.headers)
    etag = first.headers["ETag"]
    held = api.client.get(PATH, params=WINDOW, headers={**bearer(api.keys["admin"]), "If-None-Match": etag})
    assert held.status_code == 304 and held.content == b"" and held.headers["ETag"] == etag
    metrics = api.get("/metrics").text
    assert 'route="/v1/chargeback",status="304"' in metrics, "warm answers are counted under their route"


def test_a_304_of_the_route_keeps_the_answer_for_the_next_requests(api: Api) -> None:
    """A client whose tag came from another worker gets its first 304 from the route, the next from memory."""
    etag = api.get(PATH, **WINDOW).headers["ETag"]
    api.client.app.state.warm = WarmAnswers(1.0)  # type: ignore[attr-defined]  # a fresh worker
    headers = {**bearer(api.keys["admin"]), "If-None-Match": etag}
    assert api.client.get(PATH, params=WINDOW, headers=headers).status_code == 304
    assert api.client.get(PATH, params=WINDOW, headers=headers).status_code == 304
    assert _warm(api).served == 1


def test_the_warm_path_checks_the_key_on_every_request(api: Api) -> None:
    keys = KeyClock(api.client)
    assert api.get(PATH, **WINDOW).status_code == 200
    assert api.get(PATH, key=None, **WINDOW).status_code == 401
    wrong = api.client.get(PATH, params=WINDOW, headers=bearer(api.keys["admin"] + "x"))
    assert wrong.status_code == 401
    twice = [("authorization", f"Bearer {api.keys['admin']}")] * 2
    assert api.client.get(PATH, params=WINDOW, headers=twice).status_code in (200, 400)
    with unit_of_work(api.factory) as session:
        revoke_key(session, api.keys["admin"].split("_")[1])
    assert api.get(PATH, **WINDOW).status_code == 200, "trusted within api.key_cache_seconds"
    keys.pass_bound()
    revoked = api.get(PATH, **WINDOW)
    assert revoked.status_code == 401 and revoked.json()["error"] == "unauthenticated"


def test_a_tenant_key_never_gets_an_answer_kept_for_another_key(api: Api) -> None:
    for _ in range(2):  # the second round is answered from memory
        admin = api.get(PATH, **WINDOW).json()
        acme = api.get(PATH, key="acme", **WINDOW).json()
        globex = api.get(PATH, key="globex", tenant="acme", **WINDOW)
        assert {"acme", "globex"} <= {t["tenant"] for t in admin["tenants"]}
        assert {t["tenant"] for t in acme["tenants"]} == {"acme"}
        assert acme["cluster_cost_usd_micros"] is None
        assert globex.status_code == 403 or {t["tenant"] for t in globex.json()["tenants"]} == {"globex"}
    assert _warm(api).served >= 2
    billing = api.get("/v1/chargeback", key="billing", **WINDOW)
    assert billing.status_code == 200  # its own first answer, from the route


def test_a_new_run_is_served_once_the_bound_has_passed(api: Api, pg_tx: sessionmaker[Session]) -> None:
    results = ResultsClock(api.client)
    first = api.get(PATH, **WINDOW)
    store(pg_tx, [], [], [create_usage_row(5, "initech", "0-4k", 90_000.0, requests=2)])
    run_attribution(api.settings, pg_tx, T0, END)
    within = api.get(PATH, **WINDOW)
    assert within.headers["ETag"] == first.headers["ETag"], "within the bound the kept answer stands"
    results.pass_bound()
    after = api.get(PATH, **WINDOW)
    assert after.headers["ETag"] != first.headers["ETag"]
    assert "initech" in {t["tenant"] for t in after.json()["tenants"]}


@pytest.mark.committed
def test_a_run_committed_by_another_connection_is_seen_after_the_bound_in_real_time(
    api: Api, pg_factory: sessionmaker[Session]
) -> None:
    """No fake clock: a real Postgres, a run committed from another session, real seconds."""
    bound = 0.3
    settings = api.settings.model_copy(
        update={"api": api.settings.api.model_copy(update={"results_fresh_seconds": bound})}
    )
    api.client.app = create_app(settings, pg_factory)
    first = api.get(PATH, **WINDOW)
    assert api.get(PATH, **WINDOW).headers["ETag"] == first.headers["ETag"]
    store(pg_factory, [], [], [create_usage_row(5, "initech", "0-4k", 90_000.0, requests=2)])
    run_attribution(api.settings, pg_factory, T0, END)
    committed_at = time.monotonic()
    time.sleep(bound)
    while time.monotonic() - committed_at < bound:  # pragma: no cover - sleep may wake early
        time.sleep(0.01)
    # the exact bound is the fake-clock test's; here, real time on a loaded machine: the run is seen
    # within a few bounds (a CI rehearsal under load once saw the first request after the bound stale,
    # unexplained: docs/performance.md, "The warm chargeback from memory")
    after = api.get(PATH, **WINDOW)
    deadline = time.monotonic() + 10 * bound
    while after.headers["ETag"] == first.headers["ETag"] and time.monotonic() < deadline:
        time.sleep(bound / 10)
        after = api.get(PATH, **WINDOW)
    assert after.headers["ETag"] != first.headers["ETag"]
    assert "initech" in {t["tenant"] for t in after.json()["tenants"]}


def test_zero_reads_the_version_on_every_request(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    ResultsClock(api.client, seconds=0.0)
    assert api.get(PATH, **WINDOW).status_code == 200
    _no_database(monkeypatch)
    assert api.get(PATH, **WINDOW).status_code == 500  # the route read it (and the test's stub refused)


def test_an_older_read_finishing_later_does_not_replace_a_newer_one() -> None:
    now = [10.0]
    seen = Observed(1.0, clock=lambda: now[0])
    seen.note("2026-11", "new", read_at=9.9)
    seen.note("2026-11", "old", read_at=9.8)
    assert seen.current("2026-11") == "new"
    assert seen.current(None) is None
    now[0] = 10.9
    assert seen.current("2026-11") is None


def test_past_half_its_bound_one_request_in_each_half_bound_reads_again() -> None:
    now = [0.0]
    seen = Observed(1.0, clock=lambda: now[0])
    seen.note(None, "v", read_at=0.0)
    assert [seen.current(None) for _ in range(3)] == ["v"] * 3
    now[0] = 0.6
    assert [seen.current(None) for _ in range(3)] == [None, "v", "v"]
    now[0] = 0.8
    assert seen.current(None) == "v"  # the refresh is under way
    now[0] = 1.0
    assert seen.current(None) is None  # past the bound: nobody gets it
