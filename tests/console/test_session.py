"""Console sessions without a browser: what the cookie holds, CSRF and Origin checks, forged and revoked
sessions, and the offline ``/docs``."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.console.session import COOKIE
from attribution.errors import ConfigError
from attribution.reports.monthly import build_statement_report
from attribution.store.apikeys import revoke_key
from attribution.store.session import unit_of_work
from attribution.store.tables import ApiKey, Period
from tests.console.seed import console_settings, seed
from tests.support.api import create_api_key


@pytest.fixture
def client(pg_tx: sessionmaker[Session]) -> TestClient:
    settings = console_settings()
    seed(pg_tx, settings, close=False)
    return TestClient(create_app(settings, pg_tx), base_url="http://console.test")


def _sign_in(client: TestClient, key: str) -> str:
    answer = client.post("/console/login", data={"key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.cookies[COOKIE]


def _csrf(client: TestClient, path: str = "/console/periods") -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_the_cookie_is_httponly_strict_and_holds_no_key(client: TestClient, pg_tx: sessionmaker) -> None:
    key = create_api_key(pg_tx, "finance")
    answer = client.post("/console/login", data={"key": key}, follow_redirects=False)
    header = answer.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert key.split("_", 2)[-1] not in header  # the whole secret (it may hold an underscore)
    assert answer.headers["location"] == "/console/"


def test_a_bad_key_is_a_401_page_and_no_cookie(client: TestClient) -> None:
    answer = client.post("/console/login", data={"key": "attr_000000000000_" + "x" * 43})
    assert answer.status_code == 401 and "invalid or revoked API key" in answer.text
    assert COOKIE not in answer.cookies


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/", "/console/", "/console/tenants", "/console/periods/2026-11/statement.html"):
        answer = client.get(path, follow_redirects=True)
        assert answer.url.path == "/console/login", path


def test_a_cross_site_post_is_refused(client: TestClient, pg_tx: sessionmaker) -> None:
    key = create_api_key(pg_tx, "finance")
    answer = client.post("/console/login", data={"key": key}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and COOKIE not in answer.cookies


def test_closing_needs_the_csrf_token_and_the_typed_period(client: TestClient, pg_tx: sessionmaker) -> None:
    _sign_in(client, create_api_key(pg_tx, "finance"))
    no_token = client.post("/console/periods/2026-11/close", data={"confirm": "2026-11", "nonce": "n"})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    token = _csrf(client)
    unconfirmed = client.post("/console/periods/2026-11/close", data={"csrf": token, "nonce": "n"})
    assert unconfirmed.status_code == 403
    with pg_tx() as session:
        row = session.get(Period, "2026-11")
        assert row is not None and row.status == "open"
    form = {"csrf": token, "nonce": "n", "confirm": "2026-11"}
    for _ in range(2):  # a double submit closes once and answers the same
        done = client.post("/console/periods/2026-11/close", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text
    with pg_tx() as session:
        row = session.get(Period, "2026-11")
        assert row is not None and row.status == "closed"


def test_an_incomplete_period_does_not_close(client: TestClient, pg_tx: sessionmaker) -> None:
    _sign_in(client, create_api_key(pg_tx, "admin"))
    form = {"csrf": _csrf(client), "nonce": "n", "confirm": "2026-12"}
    answer = client.post("/console/periods/2026-12/close", data=form)
    assert answer.status_code == 422 and "then attribute the period before closing it" in answer.text


def test_a_tenant_key_cannot_close(client: TestClient, pg_tx: sessionmaker) -> None:
    _sign_in(client, create_api_key(pg_tx, "tenant:acme-chat"))
    form = {"csrf": _csrf(client), "nonce": "n", "confirm": "2026-11"}
    assert client.post("/console/periods/2026-11/close", data=form).status_code == 403


def test_a_forged_or_tampered_cookie_is_no_session(client: TestClient, pg_tx: sessionmaker) -> None:
    cookie = _sign_in(client, create_api_key(pg_tx, "tenant:acme-chat"))
    key_id, expires, signature = cookie.split(".")
    for forged in (
        f"{key_id}.{int(expires) + 10**6}.{signature}",  # a longer session
        f"{key_id}.{expires}.{'0' * 64}",
        f"{key_id}.1.{signature}",  # expired
    ):
        client.cookies.set(COOKIE, forged)
        assert client.get("/console/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(client: TestClient, pg_tx: sessionmaker) -> None:
    key = create_api_key(pg_tx, "finance")
    _sign_in(client, key)
    assert client.get("/console/", follow_redirects=False).status_code == 200
    with unit_of_work(pg_tx) as session:
        revoke_key(session, key.split("_")[1])
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_csrf_token(client: TestClient, pg_tx: sessionmaker) -> None:
    _sign_in(client, create_api_key(pg_tx, "finance"))
    assert client.post("/console/logout", data={}).status_code == 403
    done = client.post("/console/logout", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert done.status_code == 303 and 'attribution_session=""' in done.headers["set-cookie"]


def test_pages_forbid_scripts_framing_and_caching(client: TestClient, pg_tx: sessionmaker) -> None:
    _sign_in(client, create_api_key(pg_tx, "finance"))
    answer = client.get("/console/")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    assert "<script" not in answer.text
    links = re.findall(r'(?:src|href|action)="([^"]*)"', answer.text)
    assert links and all(u.startswith("/") for u in links), [u for u in links if not u.startswith("/")]


def test_docs_serve_swagger_ui_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_a_hostile_tenant_name_is_escaped_quoted_and_kept_out_of_headers(
    pg_tx: sessionmaker,
) -> None:
    from attribution.ledger.attribute import run_attribution
    from tests.builders import T0, create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings
    from tests.builders import store as store_rows

    hostile = 'Ünï <b>"Corp"</b>/../x?y=1'
    usage = [create_usage_row(m, hostile, "0-4k", 90_000.0, requests=2) for m in range(60)]
    store_rows(pg_tx, create_gpu_rows(60), create_kv_rows(60, 0.01), usage)
    settings = small_cluster_settings()
    run_attribution(settings, pg_tx, T0, T0.replace(hour=1))
    client = TestClient(create_app(settings, pg_tx), base_url="http://console.test")
    _sign_in(client, create_api_key(pg_tx, f"tenant:{hostile}"))
    moved = client.get("/console/tenants", params={"period": "2026-11"}, follow_redirects=False)
    assert moved.status_code == 303 and "%2F..%2Fx%3Fy%3D1" in moved.headers["location"]
    page = client.get(moved.headers["location"])
    assert page.status_code == 200 and "<b>" not in page.text and "&lt;b&gt;" in page.text
    download = client.get("/console/periods/2026-11/focus.csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert download.status_code == 200 and {r["BillingAccountId"] for r in rows} == {hostile}
    assert download.headers["content-disposition"].isascii()


def test_a_bad_price_list_costs_the_comparison_not_the_tier_page(pg_tx: sessionmaker) -> None:
    settings = console_settings().model_copy(
        update={
            "api": console_settings().api.model_copy(update={"console_price_list": Path("/nonexistent.toml")})
        }
    )
    seed(pg_tx, settings, close=False)
    client = TestClient(create_app(settings, pg_tx), base_url="http://console.test")
    _sign_in(client, create_api_key(pg_tx, "finance"))
    page = client.get("/console/tiers", params={"period": "2026-11"})
    assert page.status_code == 200 and 'id="tiers"' in page.text
    assert "api.console_price_list: price list /nonexistent.toml does not exist" in page.text


def test_an_anonymous_form_is_read_no_further_than_its_limit(client: TestClient, pg_tx: sessionmaker) -> None:
    """/console/ posts are exempt from the body limit's anonymous 401, so the form reader must bound what
    it reads: a sign-in body over MAX_FORM_BYTES is a 413, not read whole (up to api.max_body_bytes) and
    cut; a valid key placed past the limit does not sign in."""
    from attribution.console.actions import MAX_FORM_BYTES

    key = create_api_key(pg_tx, "finance")
    body = f"pad={'x' * (4 * MAX_FORM_BYTES)}&key={key}"
    answer = client.post(
        "/console/login",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 413 and COOKIE not in answer.cookies
    within = client.post("/console/login", data={"key": key}, follow_redirects=False)
    assert within.status_code == 303


def test_never_collected_intervals_are_not_complete_in_any_view(
    client: TestClient, pg_tx: sessionmaker
) -> None:
    """Every interval attributed but two hours the gateway never collected (a backfill that skipped them):
    the close check refuses the period, so the API chargeback and the console's overview must not call its
    figures complete or 'the bill for the period' (they counted attributed intervals only)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import delete

    from attribution.store.collection_state import SourceCoverage

    hole = datetime(2026, 11, 20, 3, tzinfo=UTC)
    with unit_of_work(pg_tx) as session:
        t = SourceCoverage
        session.execute(
            delete(t).where(
                t.collector == "gateway",
                t.interval_start >= hole,
                t.interval_start < hole + timedelta(hours=2),
            )
        )
    key = create_api_key(pg_tx, "admin")
    api = client.get("/v1/chargeback?period=2026-11", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 200, api.text
    assert api.json()["intervals_attributed"] == api.json()["intervals_in_window"]
    assert api.json()["complete"] is False
    _sign_in(client, key)
    overview = client.get("/console/?period=2026-11").text
    assert "the bill for the period" not in overview
    form = {"csrf": _csrf(client), "nonce": "n", "confirm": "2026-11"}
    refused = client.post("/console/periods/2026-11/close", data=form)
    assert refused.status_code == 422 and "never collected" in refused.text


def test_a_tenant_statement_names_no_pool_the_tenant_has_no_lines_in(
    client: TestClient, pg_tx: sessionmaker
) -> None:
    """A pool whose engines worked without gateway usage is listed as a gateway gap ('pool <name>') in a
    statement's coverage; a tenant's statement (console download and overview) must not name pools the
    tenant has no lines in, as the API's tenant keys cannot learn a pool they may not see."""
    from datetime import UTC, datetime

    from attribution.store.tables import KvSample

    with unit_of_work(pg_tx) as session:
        session.add(
            KvSample(
                interval_start=datetime(2026, 11, 20, 3, tzinfo=UTC),
                pool="private-pool-of-hooli",
                engine_id="e0",
                kv_usage_ratio=0.5,
                kv_capacity_tokens=1000,
                kv_bytes_per_token=2,
                requests_running=1.0,
                requests_waiting=0.0,
            )
        )
    _sign_in(client, create_api_key(pg_tx, "tenant:acme-chat"))
    for path in ("/console/periods/2026-11/statement.html", "/console/?period=2026-11"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "private-pool-of-hooli" not in answer.text, path
    admin = TestClient(client.app, base_url="http://console.test")
    _sign_in(admin, create_api_key(pg_tx, "admin"))
    assert "private-pool-of-hooli" in admin.get("/console/periods/2026-11/statement.html").text


def test_a_cookie_forged_from_a_database_read_is_no_session(client: TestClient, pg_tx: sessionmaker) -> None:
    """Who can read ``api_keys`` (a backup, an analytics role) knows every key's digest; without the
    server's session secret that is not enough to sign a session (the old signature was keyed by the
    digest alone, so this cookie was accepted)."""
    import hashlib
    import hmac

    key = create_api_key(pg_tx, "admin")
    key_id = key.split("_")[1]
    with pg_tx() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        digest = row.secret_sha256
    expires = 2_000_000_000
    message = "\x1f".join(["console-session", key_id, str(expires)]).encode()
    forged = hmac.new(digest.encode(), message, hashlib.sha256).hexdigest()
    client.cookies.set(COOKIE, f"{key_id}.{expires}.{forged}")
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_replicas_sharing_the_secret_file_share_sessions(pg_tx: sessionmaker, tmp_path: Path) -> None:
    secret = tmp_path / "session-secret"
    secret.write_text("0123456789abcdef" * 4 + "\n")
    settings = console_settings()
    shared = settings.model_copy(
        update={"api": settings.api.model_copy(update={"session_secret_file": secret})}
    )
    one = TestClient(create_app(shared, pg_tx), base_url="http://console.test")
    two = TestClient(create_app(shared, pg_tx), base_url="http://console.test")
    other = TestClient(create_app(settings, pg_tx), base_url="http://console.test")  # its own secret
    cookie = _sign_in(one, create_api_key(pg_tx, "finance"))
    two.cookies.set(COOKIE, cookie)
    other.cookies.set(COOKIE, cookie)
    assert two.get("/console/", follow_redirects=False).status_code == 200
    assert other.get("/console/", follow_redirects=False).status_code == 303


def test_a_short_session_secret_file_stops_the_server_with_one_line(
    pg_tx: sessionmaker, tmp_path: Path
) -> None:
    secret = tmp_path / "short"
    secret.write_text("too short")
    settings = console_settings()
    short = settings.model_copy(
        update={"api": settings.api.model_copy(update={"session_secret_file": secret})}
    )
    with pytest.raises(ConfigError, match="fewer than 32"):
        create_app(short, pg_tx)


def test_the_overview_shows_the_billing_currency_total(pg_tx: sessionmaker[Session]) -> None:
    """Billed in EUR: the overview's card is the statement converted, the same figure as the HTML."""
    rates = [{"from": "USD", "to": "EUR", "rate": "0.9215", "effective_from": "2026-01-01T00:00:00Z"}]
    settings = console_settings(billing_currency="EUR", exchange_rates=rates)
    seed(pg_tx, settings, close=False)
    client = TestClient(create_app(settings, pg_tx), base_url="http://console.test")
    _sign_in(client, create_api_key(pg_tx, "finance"))
    page = client.get("/console/", params={"period": "2026-11"}).text
    with pg_tx() as session:
        billed = build_statement_report(session, settings, "2026-11").billed
    assert billed is not None and billed.total_minor > 0
    assert f"{billed.formatted(billed.total_minor)} <small>EUR</small>" in page
    assert "at 0.9215 EUR per USD from 2026-01-01" in page
