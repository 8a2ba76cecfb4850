"""Operations: /healthz, /readyz against a real Prometheus and a real (or unreachable) database, and
/metrics in the Prometheus exposition format."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.localprom import LocalPrometheus, free_port
from attribution.store.session import make_engine, make_sessionmaker
from attribution.timeutil import iso
from tests.api.conftest import END, Api
from tests.builders import T0, small_cluster_settings


def test_healthz_needs_nothing(api: Api) -> None:
    assert api.get("/healthz", key=None).json() == {"status": "ok"}


def test_readyz_checks_the_database_and_prometheus(pg_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with LocalPrometheus(tmp_path / "prom") as prom:
        app = create_app(small_cluster_settings(prometheus_url=prom.url), pg_factory)
        response = TestClient(app).get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "source:prometheus": "ok"}}
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


def test_metrics_count_requests_by_route_template(api: Api) -> None:
    window = {"start": iso(T0), "end": iso(END)}
    for _ in range(3):
        assert api.get("/v1/chargeback", **window).status_code == 200
    api.get("/v1/tenants/acme/usage", **window)
    api.get("/v1/chargeback", key=None, **window)
    response = api.get("/metrics", key=None)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'attribution_api_requests_total{method="GET",route="/v1/chargeback",status="200"} 3.0' in text
    assert 'attribution_api_requests_total{method="GET",route="/v1/chargeback",status="401"} 1.0' in text
    assert 'route="/v1/tenants/{tenant}/usage"' in text and "/v1/tenants/acme" not in text
    assert 'attribution_api_request_duration_seconds_count{method="GET",route="/v1/chargeback"} 4.0' in text
    assert "# TYPE attribution_api_request_duration_seconds histogram" in text
    assert "attribution_api_window_reads_total 1.0" in text  # three chargebacks, one read of the window


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_unknown_methods_and_paths_get_the_error_body(api: Api, method: str) -> None:
    response = api.client.request(method, "/v1/chargeback")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    response = api.client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
