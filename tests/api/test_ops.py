"""Operations: /healthz, /readyz against a real Prometheus and a real (or unreachable) database, and
/metrics in the Prometheus exposition format."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.api.ops import SourceReadiness
from attribution.config import ClusterConfig
from attribution.localprom import LocalPrometheus, free_port
from attribution.store.session import make_engine, make_sessionmaker
from attribution.timeutil import iso
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, Api


def test_healthz_needs_nothing(api: Api) -> None:
    assert api.get("/healthz", key=None).json() == {"status": "ok"}


class Clock:
    """A monotonic clock the test moves: readiness answers are kept for a few seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_readyz_checks_the_database_and_prometheus(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    clock = Clock()
    with LocalPrometheus(tmp_path / "prom") as prom:
        app = create_app(small_cluster_settings(prometheus_url=prom.url), pg_tx)
        app.state.readiness = SourceReadiness(ttl_seconds=5, clock=clock)
        response = TestClient(app).get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "source:prometheus": "ok"}}
    clock.now += 5  # the kept answer has expired
    response = TestClient(app).get("/readyz")  # Prometheus has stopped
    assert response.status_code == 503
    assert (
        response.json()["error"] == "not_ready"
        and "source:prometheus: not ready" in response.json()["detail"]
    )
    # the readiness probe's scope: the API answers from stored results while Prometheus is down
    response = TestClient(app).get("/readyz?scope=database")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_503_when_the_database_is_down() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    settings = small_cluster_settings(prometheus_url=f"http://127.0.0.1:{free_port()}")
    client = TestClient(create_app(settings, make_sessionmaker(make_engine(dead))))
    for path in ("/readyz", "/readyz?scope=database"):
        response = client.get(path)
        assert response.status_code == 503
        assert "database: unreachable" in response.json()["detail"]


def test_readyz_asks_each_source_once_per_few_seconds(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    """Unauthenticated callers cannot make the API fan out to Prometheus: 30 readiness checks within the
    5 s an answer is kept are one request to Prometheus's /-/ready, counted by Prometheus itself."""
    clock = Clock()
    with LocalPrometheus(tmp_path / "prom") as prom:
        app = create_app(small_cluster_settings(prometheus_url=prom.url), pg_tx)
        app.state.readiness = SourceReadiness(ttl_seconds=5, clock=clock)
        client = TestClient(app)
        before = ready_requests(prom.url)  # starting Prometheus waited for it to be ready
        for _ in range(30):
            assert client.get("/readyz").status_code == 200
        assert ready_requests(prom.url) == before + 1
        clock.now += 5
        assert client.get("/readyz").status_code == 200
        assert ready_requests(prom.url) == before + 2


def ready_requests(prometheus_url: str) -> int:
    """Requests Prometheus has answered on /-/ready, from its own metrics."""
    text = requests.get(f"{prometheus_url}/metrics", timeout=10).text
    found = re.findall(r'^prometheus_http_requests_total\{[^}]*handler="/-/ready"[^}]*\} (\S+)$', text, re.M)
    return int(sum(float(v) for v in found))


def test_readyz_names_a_source_without_its_url_or_credentials(pg_tx: sessionmaker[Session]) -> None:
    port = free_port()
    settings = small_cluster_settings(prometheus_url=f"http://scraper:s3cret@127.0.0.1:{port}")
    response = TestClient(create_app(settings, pg_tx)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "database: ok; source:prometheus: not ready"
    assert "s3cret" not in response.text and str(port) not in response.text


def test_database_errors_keep_the_driver_text_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    dead = f"postgresql://postgres:hunter2@127.0.0.1:{port}/nothing"
    client = TestClient(create_app(small_cluster_settings(), make_sessionmaker(make_engine(dead))))
    headers = {"Authorization": "Bearer attr_0123456789ab_" + "x" * 43}  # checking it needs the database
    with caplog.at_level(logging.WARNING):
        response = client.get("/v1/chargeback", params={"start": iso(T0), "end": iso(END)}, headers=headers)
        ready = client.get("/readyz?scope=database")
    assert response.status_code == 503
    assert response.json() == {"error": "database_unavailable", "detail": "database unavailable"}
    assert ready.status_code == 503 and ready.json()["detail"] == "database: unreachable"
    for body in (response.text, ready.text):
        assert str(port) not in body and "hunter2" not in body
    assert str(port) in caplog.text  # the operator still sees what the driver said


def test_metrics_count_requests_by_route_template(api: Api) -> None:
    window = {"start": iso(T0), "end": iso(END)}
    for _ in range(3):
        assert api.get("/v1/chargeback", **window).status_code == 200
    api.get("/v1/tenants/acme/usage", **window)
    api.get("/v1/chargeback", key=None, **window)
    api.get("/v1/nothing-here/123", key=None)
    response = api.get("/metrics", key=None)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'attribution_api_requests_total{method="GET",route="/v1/chargeback",status="200"} 3.0' in text
    assert 'attribution_api_requests_total{method="GET",route="/v1/chargeback",status="401"} 1.0' in text
    assert 'route="/v1/tenants/{tenant}/usage"' in text and "/v1/tenants/acme" not in text
    assert 'attribution_api_request_duration_seconds_count{method="GET",route="/v1/chargeback"} 4.0' in text
    assert "# TYPE attribution_api_request_duration_seconds histogram" in text
    assert "attribution_api_window_reads_total 1.0" in text  # three chargebacks, one read of the window
    # a path no route matches: one label for all of them (never the raw path), with the status sent
    assert 'attribution_api_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "/v1/nothing-here" not in text
    assert "attribution_api_requests_in_progress 1.0" in text  # this /metrics request only


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_unknown_methods_and_paths_get_the_error_body(api: Api, method: str) -> None:
    response = api.client.request(method, "/v1/chargeback")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    response = api.client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_readyz_checks_each_clusters_sources(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    """With ``[[clusters]]`` every cluster's sources are checked and named ``<cluster>/<source>``: an
    operator sees which cluster's Prometheus is down, though the two sources share a name."""
    down = f"http://127.0.0.1:{free_port()}"
    with LocalPrometheus(tmp_path / "prom") as prom:
        settings = small_cluster_settings().model_copy(
            update={
                "clusters": [
                    ClusterConfig(name="east", prometheus_url=prom.url),
                    ClusterConfig(name="west", prometheus_url=down),
                ]
            }
        )
        response = TestClient(create_app(settings, pg_tx)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "database: ok; source:east/prometheus: ok; source:west/prometheus: not ready"
    )
