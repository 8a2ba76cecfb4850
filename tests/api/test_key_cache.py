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
PATH = "/v1/chargeback"


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


def test_a_kept_key_is_refreshed_ahead_of_its_bound_by_one_request_not_all() -> None:
    """Past half the bound one warm caller per half-bound is sent to re-verify while the others are
    served; the route re-verifies; the bound holds: nothing is served from memory once it is reached."""
    now = [0.0]
    checks: list[str] = []
    principal = Principal("k", frozenset({"finance"}))

    def verify(token: str) -> Principal:
        checks.append(token)
        return principal

    cache = KeyCache(4.0, clock=lambda: now[0])
    assert cache.kept("t") is None  # never verified
    assert cache.principal("t", verify) == principal and checks == ["t"]
    now[0] = 1.9
    assert [cache.kept("t") for _ in range(3)] == [principal] * 3  # fresh: all from memory
    assert cache.principal("t", verify) == principal and checks == ["t"]  # the route keeps it too
    now[0] = 2.0  # half the bound: one caller is sent to the route, the rest still served
    assert [cache.kept("t") for _ in range(4)] == [None, principal, principal, principal]
    assert cache.principal("t", verify) == principal and checks == ["t", "t"]  # the route verifies again
    now[0] = 3.9  # verified 1.9 s ago: fresh again, nobody is sent
    assert [cache.kept("t") for _ in range(3)] == [principal] * 3
    now[0] = 4.5  # past half again, and nobody verified: one more caller is sent
    assert [cache.kept("t") for _ in range(2)] == [None, principal]
    now[0] = 6.0  # the bound since the last verification: nothing from memory, whatever the claims
    assert [cache.kept("t") for _ in range(3)] == [None, None, None]


def test_a_revoked_key_found_on_refresh_is_dropped() -> None:
    now = [0.0]
    principal = Principal("k", frozenset({"finance"}))
    answers: list[Principal | None] = [principal, None]
    cache = KeyCache(4.0, clock=lambda: now[0])
    assert cache.principal("t", lambda _: answers.pop(0)) == principal
    now[0] = 2.5
    assert cache.kept("t") is None  # sent to the route
    assert cache.principal("t", lambda _: answers.pop(0)) is None  # revoked meanwhile: refused
    assert [cache.kept("t") for _ in range(2)] == [None, None]  # and no longer kept


def test_warm_chargebacks_refresh_their_key_by_one_read_ahead_of_the_bound(api: Api) -> None:
    """Through the app: past half the bound one warm request takes the route, which reads the key's row
    again; the others are served; the key never lapses for them while requests keep coming."""
    clock = KeyClock(api.client)  # a 5 s bound
    token = api.keys["finance"]
    with _key_reads(api.factory) as reads:
        etags = {api.client.get(PATH, params=WINDOW, headers=bearer(token)).headers["ETag"] for _ in range(3)}
        assert len(reads) == 1 and len(etags) == 1
        clock.now = 2.6  # past half the bound: one request re-verifies, the rest are answered warm
        for _ in range(3):
            assert api.client.get(PATH, params=WINDOW, headers=bearer(token)).status_code == 200
        assert len(reads) == 2, reads
        clock.now = 5.05  # past the first verification's bound (5 s), within the refreshed one's half
        for _ in range(3):
            assert api.client.get(PATH, params=WINDOW, headers=bearer(token)).status_code == 200
        assert len(reads) == 2, reads
        clock.now = 7.7  # past the refreshed one's half: again one read, not one per request
        for _ in range(3):
            assert api.client.get(PATH, params=WINDOW, headers=bearer(token)).status_code == 200
        assert len(reads) == 3, reads
