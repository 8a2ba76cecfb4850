"""The transport carries what ``requests`` would have: the proxy the environment names (and ``NO_PROXY``),
``~/.netrc`` and URL credentials, the session's headers; it follows a 307 or 308 on the source's host and
names any other redirect; and it leaves to ``requests`` what it does not carry itself. Against a real
Prometheus behind real (small) HTTP servers: a forward proxy, an echoing front door, a moved API and a
redirect elsewhere."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

import pytest
import requests
from requests.auth import HTTPDigestAuth

from attribution.collectors.prom import PromClient
from attribution.collectors.transport import DirectTransport, SessionTransport, transport_for
from attribution.config import RetryConfig, SourceConfig
from attribution.errors import SourceQueryError, SourceUnavailableError
from attribution.localprom import LocalPrometheus, free_port
from tests.support.simulated import START

QUERY = "avg_over_time(DCGM_FI_DEV_GPU_UTIL[59999ms])"
ONCE = RetryConfig(attempts=1)


class _Recording(BaseHTTPRequestHandler):
    """Records each request (its target and the headers asked for), then answers it by ``answer``."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    backend: ClassVar[str] = ""

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        self._handle(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _handle(self, body: bytes | None) -> None:
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        status, headers, content = self.answer(body)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(content))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def answer(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def forward(self, url: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """The request sent on to ``url`` directly (never through the environment's proxy)."""
        direct = requests.Session()
        direct.trust_env = False
        kind = {"Content-Type": self.headers["Content-Type"]} if body is not None else {}
        got = direct.request(self.command, url, data=body, headers=kind, timeout=30)
        return got.status_code, {"Content-Type": "application/json"}, got.content

    def log_message(self, format: str, *args: object) -> None:
        return


class _ForwardProxy(_Recording):
    """A forward proxy: the request line holds the whole URL, which it fetches itself."""

    def answer(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        return self.forward(self.path, body)


class _Echo(_Recording):
    """The backend Prometheus' answer, the request's headers recorded."""

    def answer(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        return self.forward(f"{self.backend}{self.path}", body)


class _Redirect(_Recording):
    def answer(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        return 308, {"Location": "https://user:hunter2@prometheus.example/api/v1/query_range"}, b""


class _Moved(_Recording):
    """An ingress that moved the API: a 308 to another path on its own host, which it then serves."""

    def answer(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        if not self.path.startswith("/prometheus/"):
            return 308, {"Location": f"/prometheus{self.path}"}, b""
        return self.forward(f"{self.backend}{self.path.removeprefix('/prometheus')}", body)


def _serve(handler: type[_Recording]) -> Iterator[str]:
    handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def forward_proxy() -> Iterator[str]:
    yield from _serve(_ForwardProxy)


@pytest.fixture
def echo(sim_prometheus: LocalPrometheus) -> Iterator[str]:
    _Echo.backend = sim_prometheus.url
    yield from _serve(_Echo)


@pytest.fixture
def redirecting() -> Iterator[str]:
    yield from _serve(_Redirect)


@pytest.fixture
def moved(sim_prometheus: LocalPrometheus) -> Iterator[str]:
    _Moved.backend = sim_prometheus.url
    yield from _serve(_Moved)


def _window() -> tuple[datetime, datetime]:
    return START + timedelta(minutes=1), START + timedelta(minutes=30)


def test_the_environment_proxy_carries_every_query_and_no_proxy_bypasses_it(
    sim_prometheus: LocalPrometheus, forward_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    expected = PromClient(sim_prometheus.url).range_query(QUERY, *_window(), 60)  # before the proxy is set
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.replace("http://", "http://squid:pa%40ss@"))
    client = PromClient.for_source(SourceConfig(name="p", url=sim_prometheus.url), ONCE)
    assert client.ready() and client.range_query(QUERY, *_window(), 60) == expected
    targets = [target for target, _ in _ForwardProxy.seen]
    assert targets == [f"{sim_prometheus.url}/-/ready", f"{sim_prometheus.url}/api/v1/query_range"]
    credentials = base64.b64encode(b"squid:pa@ss").decode()  # the proxy URL's, unquoted
    assert all(h.get("proxy-authorization") == f"Basic {credentials}" for _, h in _ForwardProxy.seen)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bypassing = PromClient.for_source(SourceConfig(name="p", url=sim_prometheus.url), ONCE)
    assert bypassing.range_query(QUERY, *_window(), 60) == expected
    assert len(_ForwardProxy.seen) == 2  # the proxy saw nothing more


def test_netrc_credentials_and_the_source_headers_are_sent(
    echo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    source = SourceConfig(name="n", url=echo, headers={"X-Scope-OrgID": "team-a"})
    assert PromClient.for_source(source, ONCE).range_query(QUERY, *_window(), 60)
    (_, headers), *_ = _Echo.seen
    assert headers["authorization"] == "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert headers["x-scope-orgid"] == "team-a"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert "gzip" in headers["accept-encoding"]  # answers still travel compressed


def test_a_redirect_is_named_and_not_followed(redirecting: str) -> None:
    client = PromClient.for_source(SourceConfig(name="r", url=redirecting), RetryConfig(attempts=3))
    with pytest.raises(
        SourceQueryError, match=r"redirects \(HTTP 308\) to 'https://prometheus\.example"
    ) as err:
        client.range_query(QUERY, *_window(), 60)
    assert "hunter2" not in str(err.value)  # the Location's credentials are not shown
    assert client.failures == 1 and len(_Redirect.seen) == 1  # a redirect is not retried


def test_a_307_or_308_on_the_same_host_is_followed_with_its_query(
    moved: str, sim_prometheus: LocalPrometheus
) -> None:
    expected = PromClient(sim_prometheus.url).range_query(QUERY, *_window(), 60)
    client = PromClient.for_source(SourceConfig(name="m", url=moved), ONCE)
    assert client.range_query(QUERY, *_window(), 60) == expected  # the POST and its form re-sent
    assert [target for target, _ in _Moved.seen] == ["/api/v1/query_range", "/prometheus/api/v1/query_range"]


def test_credentials_in_the_url_are_sent_as_basic_auth_never_in_the_request_line(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.netrc either: the URL's own credentials
    url = echo.replace("http://", "http://reader:s%40cret@")
    assert PromClient.for_source(SourceConfig(name="u", url=url), ONCE).range_query(QUERY, *_window(), 60)
    (target, headers), *_ = _Echo.seen
    assert headers["authorization"] == "Basic " + base64.b64encode(b"reader:s@cret").decode()
    assert target == "/api/v1/query_range"


def test_a_header_with_a_line_break_is_a_clear_error_without_its_value(echo: str) -> None:
    source = SourceConfig(name="h", url=echo, headers={"X-Scope-OrgID": "team-a\r\nX-Evil: tok-secret"})
    with pytest.raises(SourceUnavailableError, match="not valid HTTP") as err:
        PromClient.for_source(source, ONCE).range_query(QUERY, *_window(), 60)
    assert "tok-secret" not in str(err.value)


def test_a_proxy_address_urllib3_cannot_read_leaves_the_query_to_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:80x")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = "http://prometheus.internal:9090"
    assert isinstance(transport_for(requests.Session(), url, 4), SessionTransport)
    client = PromClient.for_source(SourceConfig(name="x", url=url), ONCE)  # built: no crash
    assert not client.ready()  # and each query is unavailable, as before


def test_what_the_direct_transport_does_not_carry_is_left_to_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = "http://prometheus.internal:9090"
    assert isinstance(transport_for(requests.Session(), url, 4), DirectTransport)
    digest = requests.Session()
    digest.auth = HTTPDigestAuth("u", "p")  # a challenge and a second request: requests' own
    assert isinstance(transport_for(digest, url, 4), SessionTransport)
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")
    assert isinstance(transport_for(requests.Session(), url, 4), SessionTransport)
    ignoring = requests.Session()
    ignoring.trust_env = False  # a session told not to read the environment does not take its proxy
    assert isinstance(transport_for(ignoring, url, 4), DirectTransport)
