"""A tenant key for a tenant id with a space (``Acme Corp``, a gateway label value): created, used to read
only that tenant, revoked; and keys stored before scopes became a JSON list still authenticate."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.store.apikeys import _digest, create_key, revoke_key, scopes_of
from attribution.store.session import unit_of_work
from attribution.store.tables import ApiKey
from attribution.timeutil import iso
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import END, KeyClock, bearer

WINDOW = {"start": iso(T0), "end": iso(END)}
ACME = "Acme Corp"


def test_a_tenant_id_with_a_space_gets_a_key(pg_tx: sessionmaker[Session]) -> None:
    usage = [create_usage_row(m, t, "0-4k", 1e5) for m in range(60) for t in (ACME, "globex")]
    store(pg_tx, create_gpu_rows(60), create_kv_rows(60, 0.2), usage)
    settings = small_cluster_settings()
    run_attribution(settings, pg_tx, T0, END)
    with unit_of_work(pg_tx) as session:
        key = create_key(session, [f"tenant:{ACME}"], "acme")
    assert key.scopes == (f"tenant:{ACME}",)
    with pg_tx() as session:
        row = session.get(ApiKey, key.key_id)
        assert row is not None and scopes_of(row) == (f"tenant:{ACME}",)
    client = TestClient(create_app(settings, pg_tx))
    clock = KeyClock(client, settings.api.key_cache_seconds)

    mine = client.get(f"/v1/tenants/{quote(ACME)}/usage", params=WINDOW, headers=bearer(key.token))
    assert mine.status_code == 200, mine.text
    chargeback = client.get("/v1/chargeback", params=WINDOW, headers=bearer(key.token)).json()
    assert {t["tenant"] for t in chargeback["tenants"]} == {ACME}
    other = client.get("/v1/tenants/globex/usage", params=WINDOW, headers=bearer(key.token))
    assert other.status_code == 403 and other.json()["error"] == "forbidden"

    with unit_of_work(pg_tx) as session:
        revoke_key(session, key.key_id)
    # verified a moment ago: trusted until key_cache_seconds have passed, then refused (docs/security.md)
    kept = client.get(f"/v1/tenants/{quote(ACME)}/usage", params=WINDOW, headers=bearer(key.token))
    assert kept.status_code == 200, kept.text
    clock.pass_bound()
    gone = client.get(f"/v1/tenants/{quote(ACME)}/usage", params=WINDOW, headers=bearer(key.token))
    assert gone.status_code == 401


def test_keys_stored_space_separated_still_work(pg_tx: sessionmaker[Session]) -> None:
    """A key written before scopes were JSON: its text column holds ``finance``, and it still reads."""
    secret = "s" * 43
    with unit_of_work(pg_tx) as session:
        session.add(
            ApiKey(
                key_id="0123456789ab",
                name="old",
                scopes="finance",
                secret_sha256=_digest(secret),
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                revoked_at=None,
            )
        )
    with pg_tx() as session:
        row = session.get(ApiKey, "0123456789ab")
        assert row is not None and scopes_of(row) == ("finance",)
    client = TestClient(create_app(small_cluster_settings(), pg_tx))
    response = client.get("/v1/pools", params=WINDOW, headers=bearer(f"attr_0123456789ab_{secret}"))
    assert response.status_code == 200, response.text
