"""API keys: created and revoked by the CLI, shown once, stored hashed; 401 without a good key, 403
without the scope, on every route that needs one."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.cli import app as cli
from attribution.store.apikeys import InvalidScopeError, create_key, scopes_of
from attribution.store.session import unit_of_work
from attribution.store.tables import ApiKey
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, Api, KeyClock, bearer

WINDOW = {"start": iso(T0), "end": iso(END)}
#: (method, path, params) of every route that needs a key, and the keys that may call it
ROUTES = [
    ("GET", "/v1/chargeback", WINDOW, {"admin", "finance", "billing", "acme"}),
    ("GET", "/v1/line-items", WINDOW, {"admin", "finance", "billing", "acme"}),
    ("GET", "/v1/exports/line-items.csv", WINDOW, {"admin", "finance", "billing", "acme"}),
    ("GET", "/v1/exports/focus.csv", {"period": "2026-11"}, {"admin", "finance", "billing", "acme"}),
    ("GET", "/v1/tenants/acme/usage", WINDOW, {"admin", "finance", "billing", "acme"}),
    ("GET", "/v1/periods", {}, {"admin", "finance", "billing"}),
    ("GET", "/v1/periods/2026-11/statement", {}, {"admin", "finance", "billing"}),
    ("GET", "/v1/pools", WINDOW, {"admin", "finance"}),
    ("GET", "/v1/pools/small", WINDOW, {"admin", "finance"}),
    ("GET", "/v1/coverage", WINDOW, {"admin", "finance"}),
    ("GET", "/v1/tiers", WINDOW, {"admin", "finance"}),
    ("POST", "/v1/periods/2026-11/close", {}, {"admin", "finance"}),
    ("POST", "/v1/pricing/tiers", {"period": "2026-11"}, {"admin", "finance"}),
]
KEYS = ("admin", "finance", "billing", "acme")


@pytest.mark.parametrize(("method", "path", "params", "allowed"), ROUTES, ids=[r[1] for r in ROUTES])
def test_every_route_checks_key_and_scope(
    api: Api, method: str, path: str, params: dict[str, str], allowed: set[str]
) -> None:
    def call(headers: dict[str, str]) -> int:
        headers = {**headers, "Idempotency-Key": "k"}
        return api.client.request(method, path, params=params, headers=headers).status_code

    assert call({}) == 401
    assert call(bearer("attr_0123456789ab_" + "A" * 43)) == 401  # well-formed, unknown
    admin = api.keys["admin"]
    assert call(bearer(admin[:-1] + ("A" if admin[-1] != "A" else "B"))) == 401  # right id, wrong secret
    assert call({"Authorization": "Basic YWRtaW46YWRtaW4="}) == 401
    for key in KEYS:
        status = call(bearer(api.keys[key]))
        # allowed keys pass auth; closing the period may then fail for its own reasons (not 401/403)
        assert (status not in (401, 403)) if key in allowed else (status == 403), (key, status)


def test_401_says_how_to_authenticate(api: Api) -> None:
    response = api.get("/v1/chargeback", key=None, **WINDOW)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": "unauthenticated",
        "detail": "missing API key: send 'Authorization: Bearer <key>'",
    }


def test_keys_are_stored_hashed_and_shown_once(pg_tx: sessionmaker[Session]) -> None:
    with unit_of_work(pg_tx) as session:
        key = create_key(session, ["billing"], "erp")
    with pg_tx() as session:
        row = session.scalars(select(ApiKey)).one()
    secret = key.token.split("_", 2)[2]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.secret_sha256, row.key_id, row.name, row.scopes)
    assert key.token.startswith(f"attr_{row.key_id}_") and scopes_of(row) == ("billing",)


@pytest.mark.parametrize(
    "scopes",
    [
        ["root"],
        ["tenant:"],
        ["tenant:a", "tenant:b"],
        ["tenant:a", "admin"],
        [],
        ["tenant:a\tb"],
        ["tenant: a"],
        ["tenant:a "],
        ["tenant:a\x00"],
    ],
)
def test_bad_scopes_are_refused(pg_tx: sessionmaker[Session], scopes: list[str]) -> None:
    with pg_tx() as session, pytest.raises(InvalidScopeError):
        create_key(session, scopes)


@pytest.mark.committed
def test_cli_creates_lists_and_revokes_keys(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    url = api.factory.kw["bind"].url.render_as_string(hide_password=False)
    monkeypatch.setenv("ATTRIBUTION_DATABASE_URL", url)
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--scope", "finance", "--name", "controller"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    clock = KeyClock(api.client)
    assert api.client.get("/v1/pools", params=WINDOW, headers=bearer(token)).status_code == 200

    listed = runner.invoke(cli, ["keys", "list"])
    assert key_id in listed.output and "controller" in listed.output and token not in listed.output
    assert listed.output.splitlines()[0].split() == ["key_id", "scopes", "created_at", "status", "name"]

    revoked = runner.invoke(cli, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    clock.pass_bound()  # a revocation takes effect within api.key_cache_seconds
    response = api.client.get("/v1/pools", params=WINDOW, headers=bearer(token))
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output
    assert runner.invoke(cli, ["keys", "revoke", "nosuchkey"]).exit_code != 0
