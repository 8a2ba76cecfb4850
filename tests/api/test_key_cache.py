"""Verified keys are kept for ``api.key_cache_seconds``: a warm request does not read the key's row, a
revocation takes effect within the bound, and only verified keys are kept (a new key works at once, a
wrong secret is checked every time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from attribution.access import Principal
from attribution.api.keycache import KeyCache
from attribution.store.apikeys import revoke_key
from attribution.store.session import unit_of_work
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, Api, KeyClock, bearer

WINDOW = {"start": iso(T0), "end": iso(END)}


@contextmanager
def _key_reads(factory: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every statement that reads ``api_keys`` on the factory's engine while the block runs."""
    seen: list[str] = []
    engine = factory.kw["bind"]

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_kept_key_is_not_read_again_and_a_revocation_holds_within_the_bound(api: Api) -> None:
    clock = KeyClock(api.client)
    token = api.keys["finance"]
    with _key_reads(api.factory) as reads:
        _revoke_within_the_bound(api, clock, token, reads)


def _revoke_within_the_bound(api: Api, clock: KeyClock, token: str, reads: list[str]) -> None:
    for _ in range(3):
        assert api.client.get("/v1/pools", params=WINDOW, headers=bearer(token)).status_code == 200
    assert len(reads) == 1, reads  # verified once, then kept
    with unit_of_work(api.factory) as session:
        revoke_key(session, token.split("_")[1])
    reads.clear()  # the revocation's own statements
    assert api.client.get("/v1/pools", params=WINDOW, headers=bearer(token)).status_code == 200
    clock.pass_bound()
    refused = api.client.get("/v1/pools", params=WINDOW, headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
    again = api.client.get("/v1/pools", params=WINDOW, headers=bearer(token))
    assert again.status_code == 401  # a refused key is never kept: read again, refused again
    assert len(reads) == 2, reads  # checked again after the bound, and again after the refusal


def test_a_wrong_secret_is_checked_every_time(api: Api) -> None:
    KeyClock(api.client)
    token = api.keys["finance"]
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with _key_reads(api.factory) as reads:
        for _ in range(2):
            assert api.client.get("/v1/pools", params=WINDOW, headers=bearer(wrong)).status_code == 401
    assert len(reads) == 2, reads
    assert api.client.get("/v1/pools", params=WINDOW, headers=bearer(token)).status_code == 200


def test_zero_seconds_checks_every_request() -> None:
    checks: list[str] = []
    principal = Principal("k", frozenset({"finance"}))

    def verify(token: str) -> Principal:
        checks.append(token)
        return principal

    cache = KeyCache(0)
    assert [cache.principal("t", verify) for _ in range(3)] == [principal] * 3
    assert checks == ["t", "t", "t"]
