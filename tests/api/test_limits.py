"""Request limits: bodies refused before they are read (a real uvicorn server, its memory measured), and
a per-key budget of expensive requests (429 with Retry-After)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.api.limits import RateLimitedError, RateLimiter
from attribution.config import ApiConfig
from attribution.localprom import free_port
from tests.support.api import Api, bearer, create_api_key

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1 << 20
TWENTY_MB = 20 * (1 << 20)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``attribution serve`` in its own process, on the test database, with a 1 MiB body limit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    env |= {
        "ATTRIBUTION_DATABASE_URL": pg_url,
        "ATTRIBUTION_API__MAX_BODY_BYTES": str(LIMIT),
        "ATTRIBUTION_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "attribution.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "api.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "api.log").read_text())
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_20_mb_body_is_413_before_it_is_read_and_memory_stays_flat(
    server: tuple[str, int], pg_factory: sessionmaker[Session]
) -> None:
    url, pid = server
    key = bearer(create_api_key(pg_factory, "finance"))
    body = b'{"name": "' + b"x" * TWENTY_MB + b'"}'
    before = rss_bytes(pid)
    for headers in (key, {}):  # with a key, and without one (which must cost no parsing either)
        for _ in range(3):
            answer = requests.post(
                f"{url}/v1/pricing/tiers",
                params={"period": "2026-11"},
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=60,
            )
            assert answer.status_code in (413, 401), answer.text
            assert answer.json()["error"] in ("body_too_large", "unauthenticated")
    grown = rss_bytes(pid) - before
    assert grown < 8 * (1 << 20), f"the server grew by {grown / (1 << 20):.1f} MiB"


def test_a_chunked_body_is_cut_off_at_the_limit(
    server: tuple[str, int], pg_factory: sessionmaker[Session]
) -> None:
    """No Content-Length: the server counts the chunks and answers 413 once past the limit, without
    waiting for the rest (the client has sent far less than 20 MB when the answer comes)."""
    url, _ = server
    token = create_api_key(pg_factory, "finance")
    port = int(url.rsplit(":", 1)[1])
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/pricing/tiers?period=2026-11 HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < TWENTY_MB:
                readable, writable, _ = select.select([sock], [sock], [], 10)
                if readable:
                    break  # the server answered (or closed) before the body ended
                if not writable:
                    break  # the server stopped reading
                sock.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(65536)
        while answer and not answer.endswith(b"}"):  # the JSON body may come in a second packet
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"body_too_large"' in answer
    assert sent < TWENTY_MB / 2, f"the client sent {sent} bytes before the answer"


def test_expensive_requests_are_limited_per_key(api: Api) -> None:
    limited = api.settings.model_copy(update={"api": ApiConfig(rate_limit_per_minute=60, rate_limit_burst=3)})
    client = TestClient(create_app(limited, api.factory), raise_server_exceptions=False)
    finance, other = bearer(api.keys["finance"]), bearer(api.keys["admin"])
    window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00Z"}
    answers = [client.get("/v1/pools", params=window, headers=finance) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "rate_limited" and "per replica" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "1"
    assert client.get("/v1/pools", params=window, headers=other).status_code == 200  # per key
    assert client.get("/v1/chargeback", params=window, headers=finance).status_code == 200  # cached route


def test_the_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    limiter.take("k")
    limiter.take("k")
    with pytest.raises(RateLimitedError) as info:
        limiter.take("k")
    assert info.value.retry_after_seconds == 10  # one token every 10 s
    now[0] = 10.0
    limiter.take("k")
    assert RateLimiter(per_minute=0, burst=1).take("k") is None  # 0 turns it off
