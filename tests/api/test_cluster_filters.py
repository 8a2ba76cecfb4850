"""``cluster=`` on ``/v1/tenants/{tenant}/usage`` and ``/v1/tiers`` of a two-cluster deployment: each
cluster's answer is that cluster's chargeback (micro-dollars for a window, cents for a period), the
clusters' parts sum to the whole, and an unknown cluster is a 404 as on the chargeback (a malformed one a
422)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, bearer, create_api_key
from tests.support.clusters import CLUSTERS, seed_two_clusters

WINDOW = {"start": iso(T0), "end": iso(END)}
PERIOD = {"period": T0.strftime("%Y-%m")}


def _client(factory: sessionmaker[Session]) -> TestClient:
    settings = seed_two_clusters(factory)
    return TestClient(create_app(settings, factory), headers=bearer(create_api_key(factory, "finance")))


def _usage_micros(client: TestClient, tenant: str, **params: str) -> int:
    answer = client.get(f"/v1/tenants/{tenant}/usage", params={**WINDOW, **params})
    assert answer.status_code == 200, answer.text
    return sum(p["total_usd_micros"] for p in answer.json()["points"])


def _chargeback(client: TestClient, window: dict[str, str], **params: str) -> dict[str, int]:
    answer = client.get("/v1/chargeback", params={**window, **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {"micros": body["total_usd_micros"], "cents": body["total_cents"]}


def test_tenant_usage_of_one_cluster_is_its_chargeback(pg_tx: sessionmaker[Session]) -> None:
    client = _client(pg_tx)
    whole = _usage_micros(client, "acme")
    parts = {c: _usage_micros(client, "acme", cluster=c) for c in CLUSTERS}
    assert all(parts.values()) and sum(parts.values()) == whole
    for cluster in CLUSTERS:
        charged = _chargeback(client, WINDOW, tenant="acme", cluster=cluster)
        assert parts[cluster] == charged["micros"]
    assert _usage_micros(client, "globex", cluster="west") == 0  # known tenant, no lines there
    assert _usage_micros(client, "globex", cluster="east") == _usage_micros(client, "globex")
    unknown = client.get("/v1/tenants/acme/usage", params={**WINDOW, "cluster": "north"})
    assert unknown.status_code == 404 and "north" in unknown.text
    assert client.get("/v1/tenants/acme/usage", params={**WINDOW, "cluster": "a\x01b"}).status_code == 422


def test_tiers_of_one_cluster_are_its_chargeback(pg_tx: sessionmaker[Session]) -> None:
    client = _client(pg_tx)
    for window, unit, total in ((WINDOW, "micros", "total_usd_micros"), (PERIOD, "cents", None)):
        found = {}
        for cluster in (None, *CLUSTERS):
            params = {**window, **({} if cluster is None else {"cluster": cluster})}
            answer = client.get("/v1/tiers", params=params)
            assert answer.status_code == 200, answer.text
            tiers = answer.json()["tiers"]
            key = "total_usd_micros" if unit == "micros" else "total_cents"
            found[cluster] = sum(t[key] for t in tiers)
            if total is not None:
                assert found[cluster] == answer.json()[total]
            if cluster is not None:
                assert found[cluster] == _chargeback(client, window, cluster=cluster)[unit] > 0
        assert found["east"] + found["west"] == found[None]
    west = client.get("/v1/tiers", params={**WINDOW, "cluster": "west"}).json()["tiers"]
    assert "0-4k" not in {t["tier"] for t in west}  # west serves acme's 4k-32k requests only
    assert client.get("/v1/tiers", params={**WINDOW, "cluster": "north"}).status_code == 404
    assert client.get("/v1/chargeback", params={**WINDOW, "cluster": "a\x01b"}).status_code == 422  # as here:
    assert client.get("/v1/tiers", params={**WINDOW, "cluster": "a\x01b"}).status_code == 422


def test_pools_of_one_cluster_are_its_pools(pg_tx: sessionmaker[Session]) -> None:
    """Each cluster's ``small`` pool is its own: the clusters' pool costs sum to the whole pool's."""
    client = _client(pg_tx)
    found = {}
    for cluster in (None, *CLUSTERS):
        params = {**WINDOW, **({} if cluster is None else {"cluster": cluster})}
        answer = client.get("/v1/pools", params=params)
        assert answer.status_code == 200, answer.text
        found[cluster] = {p["pool"]: p for p in answer.json()["pools"]}
    assert set(found["east"]) == set(found["west"]) == set(found[None]) == {"small"}
    parts = [found[c]["small"] for c in CLUSTERS]
    assert all(p["cost_usd_micros"] > 0 for p in parts)
    assert sum(p["cost_usd_micros"] for p in parts) == found[None]["small"]["cost_usd_micros"]
    assert sum(p["gpu_hours"] for p in parts) == found[None]["small"]["gpu_hours"]
    assert client.get("/v1/pools", params={**WINDOW, "cluster": "north"}).status_code == 404
