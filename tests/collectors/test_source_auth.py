"""Sources that want credentials: a real Prometheus behind its own TLS (client certificates required) and
basic auth, a real VictoriaMetrics with ``-tls`` and ``-httpAuth.*``, and ``vmauth`` admitting a bearer
token. The same history collected through them stores the same rows as through a plain Prometheus;
wrong credentials and unknown CAs are clear errors that never carry the secret.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar

import pytest
import requests

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import RetryConfig, Settings, SourceConfig, load_settings
from attribution.errors import ConfigError, SourceQueryError, SourceUnavailableError
from attribution.localprom import LocalPrometheus, free_port
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.support import victoria
from tests.support.postgres import fresh_database
from tests.support.secured import Pki, SecuredPrometheus, VmAuth, make_pki
from tests.support.services import missing_service
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot
from tests.support.victoria import LocalVictoriaMetrics

USER, PASSWORD = "attribution", "s3cret-Pa55word"
TOKEN = "tok-8f2a1c9e"
QUERY = "avg_over_time(DCGM_FI_DEV_GPU_UTIL[59999ms])"
WINDOW = (START + timedelta(minutes=1), START + timedelta(minutes=30))
ONCE = RetryConfig(attempts=1)
FOUR = RetryConfig(attempts=4, initial_delay_seconds=0.01, max_delay_seconds=0.02)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:  # pragma: no cover
        missing_service("openssl", "openssl is not installed (it makes the test CA)")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secured(simulated: Simulated, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("secured-prometheus")
    shutil.copytree(simulated.work / "tsdb", work / "tsdb", ignore=shutil.ignore_patterns("lock", "wal"))
    with SecuredPrometheus(work / "tsdb", pki, USER, PASSWORD) as prom:
        yield prom.url


@pytest.fixture(scope="module")
def expected(sim_prometheus: LocalPrometheus) -> Any:
    return PromClient(sim_prometheus.url).range_query(QUERY, *WINDOW, 60)


def source(url: str, **access: Any) -> SourceConfig:
    return SourceConfig(name="secured", url=url, timeout_seconds=30, **access)


def mtls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {"ca_file": pki.ca, "cert_file": pki.client_cert, "key_file": pki.client_key, **extra}


def test_prometheus_over_mutual_tls_with_basic_auth_from_the_environment(
    secured: str, pki: Pki, expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    src = source(secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls=mtls(pki))
    client = PromClient.for_source(src, ONCE)
    assert client.ready()
    assert client.range_query(QUERY, *WINDOW, 60) == expected
    assert len(expected) == 12  # one series per GPU of the demo cluster: an answer that can differ


def test_a_password_file_is_read_on_every_request(secured: str, pki: Pki, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("wrong\n")
    src = source(secured, basic_auth={"username": USER, "password_file": secret}, tls=mtls(pki))
    client = PromClient.for_source(src, ONCE)
    with pytest.raises(SourceQueryError, match="refused the credentials"):
        client.range_query(QUERY, *WINDOW, 60)
    secret.write_text(PASSWORD + "\n")  # rotated: the same client uses it from the next query on
    assert client.range_query(QUERY, *WINDOW, 60)


def test_refused_credentials_are_not_retried_and_never_logged(
    secured: str, pki: Pki, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-Pa55word"
    monkeypatch.setenv("PROM_PASSWORD", wrong)
    src = source(secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls=mtls(pki))
    client = PromClient.for_source(src, FOUR)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceQueryError, match=r"source secured at https://127.0.0.1:\d+ refused") as err:
        client.range_query(QUERY, *WINDOW, 60)
    assert client.failures == 1  # retrying cannot fix a password
    assert "HTTP 401" in str(err.value)
    assert wrong not in str(err.value) and wrong not in caplog.text and wrong not in repr(client._http.auth)


@pytest.mark.parametrize("trust", ["system", "other-ca"])
def test_an_unknown_ca_fails_the_handshake_and_says_to_set_ca_file(
    secured: str, pki: Pki, monkeypatch: pytest.MonkeyPatch, trust: str
) -> None:
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    tls = {"cert_file": pki.client_cert, "key_file": pki.client_key}
    if trust == "other-ca":
        tls["ca_file"] = pki.other_ca
    src = source(secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls=tls)
    with pytest.raises(
        SourceUnavailableError, match=r"TLS handshake failed.*CERTIFICATE_VERIFY_FAILED.*ca_file"
    ):
        PromClient.for_source(src, ONCE).range_query(QUERY, *WINDOW, 60)


def test_the_ca_bundle_variable_is_trusted_as_requests_trusts_it(
    secured: str, pki: Pki, expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``ca_file``: ``REQUESTS_CA_BUNDLE`` names the CA, as it did when requests sent the queries."""
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    tls = {"cert_file": pki.client_cert, "key_file": pki.client_key}
    src = source(secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls=tls)
    assert PromClient.for_source(src, ONCE).range_query(QUERY, *WINDOW, 60) == expected


def test_insecure_skip_verify_connects_without_the_ca(
    secured: str, pki: Pki, expected: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    tls = {"cert_file": pki.client_cert, "key_file": pki.client_key, "insecure_skip_verify": True}
    src = source(secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls=tls)
    assert PromClient.for_source(src, ONCE).range_query(QUERY, *WINDOW, 60) == expected
    assert "TLS certificate verification is off" in caplog.text


def test_without_a_client_certificate_prometheus_refuses(
    secured: str, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    src = source(
        secured, basic_auth={"username": USER, "password_env": "PROM_PASSWORD"}, tls={"ca_file": pki.ca}
    )
    with pytest.raises(SourceUnavailableError):
        PromClient.for_source(src, ONCE).range_query(QUERY, *WINDOW, 60)


def test_collecting_through_tls_and_auth_stores_the_same_rows(
    simulated: Simulated,
    sim_prometheus: LocalPrometheus,
    secured: str,
    pki: Pki,
    pg_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole pipeline (clients built from the config) through TLS and auth equals a plain one."""
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    stored = []
    for url in (sim_prometheus.url, secured):
        with fresh_database(pg_server) as db:
            upgrade(db)
            engine = make_engine(db)
            factory = make_sessionmaker(engine)
            settings = collection_settings(simulated, db, url)
            if url == secured:
                settings = with_access(
                    settings,
                    basic_auth={"username": USER, "password_env": "PROM_PASSWORD"},
                    tls=mtls(pki),
                )
            collect_window(None, settings, factory, START, END)
            stored.append(snapshot(factory))
            engine.dispose()
    assert stored[0]["gpu_samples"] and stored[0]["tenant_usage"]
    assert stored[1] == stored[0]


def with_access(settings: Settings, **access: Any) -> Settings:
    sources = [SourceConfig(**{**s.model_dump(), **access}) for s in settings.effective_sources()]
    return settings.model_copy(update={"sources": sources})


# ------------------------------------------------------------------------------------ VictoriaMetrics
@pytest.fixture(scope="module")
def secured_victoria(
    simulated: Simulated, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if victoria.binary() is None:  # pragma: no cover
        missing_service(
            "victoria-metrics",
            "victoria-metrics is not installed; scripts/ensure-prometheus.sh installs it (Debian)",
        )
    session = requests.Session()
    session.verify, session.auth = str(pki.ca), (USER, PASSWORD)
    args = ["-tls", f"-tlsCertFile={pki.server_cert}", f"-tlsKeyFile={pki.server_key}",
            f"-httpAuth.username={USER}", f"-httpAuth.password={PASSWORD}"]  # fmt: skip
    work = tmp_path_factory.mktemp("secured-vm")
    with LocalVictoriaMetrics(work / "vm", extra_args=args, session=session, https=True) as vm:
        vm.load_openmetrics(simulated.history.openmetrics_path)
        yield vm.url


def test_victoria_metrics_over_tls_with_basic_auth(
    secured_victoria: str, sim_victoria: LocalVictoriaMetrics, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = PromClient(sim_victoria.url).range_query(QUERY, *WINDOW, 60)
    monkeypatch.setenv("VM_PASSWORD", PASSWORD)
    src = source(
        secured_victoria,
        basic_auth={"username": USER, "password_env": "VM_PASSWORD"},
        tls={"ca_file": pki.ca},
    )
    client = PromClient.for_source(src, ONCE)
    for _ in range(40):  # a just-imported VictoriaMetrics may need a moment before it answers every series
        got = client.range_query(QUERY, *WINDOW, 60)
        if got == expected:
            break
        time.sleep(0.5)
    assert got == expected
    anonymous = source(secured_victoria, tls={"ca_file": pki.ca})
    with pytest.raises(SourceQueryError, match="HTTP 401"):
        PromClient.for_source(anonymous, FOUR).range_query(QUERY, *WINDOW, 60)


@pytest.fixture(scope="module")
def bearer_gate(
    sim_victoria: LocalVictoriaMetrics, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if shutil.which("vmauth") is None:  # pragma: no cover
        missing_service("vmauth", "vmauth is not installed (Debian's victoria-metrics package ships it)")
    with VmAuth(tmp_path_factory.mktemp("vmauth"), TOKEN, sim_victoria.url) as gate:
        yield gate.url


def test_a_bearer_token_from_the_environment_or_a_rotated_file(
    bearer_gate: str, sim_victoria: LocalVictoriaMetrics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = PromClient(sim_victoria.url).range_query(QUERY, *WINDOW, 60)
    monkeypatch.setenv("VM_TOKEN", TOKEN)
    assert (
        PromClient.for_source(source(bearer_gate, bearer_token_env="VM_TOKEN"), ONCE).range_query(
            QUERY, *WINDOW, 60
        )
        == expected
    )
    token = tmp_path / "token"
    token.write_text("expired-token\n")
    client = PromClient.for_source(source(bearer_gate, bearer_token_file=token), FOUR)
    with pytest.raises(SourceQueryError, match="HTTP 400 with no Prometheus API answer") as err:
        client.range_query(QUERY, *WINDOW, 60)  # vmauth: 400, its body echoing the token it refused
    assert client.failures == 1 and "expired-token" not in str(err.value)
    token.write_text(TOKEN)  # the kubelet rotated the projected token
    assert client.range_query(QUERY, *WINDOW, 60) == expected


class _OrgGate(BaseHTTPRequestHandler):
    """Mimir's and Cortex's rule at their front door: no ``X-Scope-OrgID``, ``401 no org id``; with it,
    the request goes on (here to a real Prometheus)."""

    backend = ""
    seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        org = self.headers.get("X-Scope-OrgID")
        type(self).seen.append(org)
        if not org:
            self._send(401, b"no org id\n", "text/plain")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = requests.post(f"{self.backend}{self.path}", data=body, timeout=30,
                               headers={"Content-Type": self.headers["Content-Type"]})  # fmt: skip
        self._send(answer.status_code, answer.content, "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_an_x_scope_orgid_header_reaches_a_multi_tenant_front_door(
    sim_prometheus: LocalPrometheus, expected: Any
) -> None:
    _OrgGate.backend, _OrgGate.seen = sim_prometheus.url, []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _OrgGate)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(SourceQueryError, match="X-Scope-OrgID"):
            PromClient.for_source(source(url), ONCE).range_query(QUERY, *WINDOW, 60)
        org = source(url, headers={"X-Scope-OrgID": "team-a|team-b"})
        assert PromClient.for_source(org, ONCE).range_query(QUERY, *WINDOW, 60) == expected
    finally:
        server.shutdown()
        server.server_close()
    assert _OrgGate.seen == [None, "team-a|team-b"]


# -------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("access", "message"),
    [
        ({"headers": {"Authorization": "Bearer x"}}, "headers: Authorization carries a credential"),
        ({"url": "https://u:p@mimir.example", "bearer_token_env": "T"}, "not bearer_token_env and url_"),
        ({"bearer_token_env": "T", "basic_auth": {"username": "u", "password_env": "P"}}, "set only one of"),
        ({"basic_auth": {"username": "u"}}, "set password_env or password_file"),
        ({"basic_auth": {"username": "u", "password": "inline"}}, "password: Extra inputs are not permitted"),
        ({"url": "http://prom:9090", "tls": {"ca_file": "/ca.pem"}}, "tls: set for a plain http:// URL"),
        ({"tls": {"key_file": "/k.pem"}}, "key_file needs cert_file"),
        ({"tls": {"ca_file": "/ca.pem", "insecure_skip_verify": True}}, "contradict"),
    ],
)
def test_a_bad_access_config_is_one_line_naming_the_key(access: dict[str, Any], message: str) -> None:
    entry = {"name": "remote", "url": "https://mimir.example/prometheus", **access}
    with pytest.raises(ConfigError, match=r"sources\.0") as err:
        load_settings(sources=[entry])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_missing_secret_names_the_variable_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    with pytest.raises(
        ConfigError, match=r"sources\.remote\.bearer_token_env: environment variable NOT_SET_TOKEN"
    ):
        PromClient.for_source(
            SourceConfig(name="remote", url="https://x.example", bearer_token_env="NOT_SET_TOKEN"), ONCE
        )
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"sources.remote.tls.ca_file: no such file '{missing}'"):
        PromClient.for_source(
            SourceConfig(name="remote", url="https://x.example", tls={"ca_file": missing}), ONCE
        )
