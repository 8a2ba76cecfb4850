"""``/v1/pools/{pool}/efficiency`` and ``/v1/pools/{pool}/what-if``: scopes, schemas, exact money, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from attribution.store.tables import PoolCost
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import END, Api

WINDOW = {"start": iso(T0), "end": iso(END)}
PATHS = ("/v1/pools/small/efficiency", "/v1/pools/small/what-if")


@pytest.mark.parametrize("path", PATHS)
def test_finance_and_admin_only(api: Api, path: str) -> None:
    """The same scopes as the other pool routes: cluster-wide figures are not a tenant's."""
    assert api.get(path, key=None, **WINDOW).status_code == 401
    for key, status in (("admin", 200), ("finance", 200), ("billing", 403), ("acme", 403)):
        assert api.get(path, key=key, **WINDOW).status_code == status, key


@pytest.mark.parametrize("path", ["/v1/pools/nope/efficiency", "/v1/pools/nope/what-if"])
def test_unknown_pool_is_404(api: Api, path: str) -> None:
    response = api.get(path, **WINDOW)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_efficiency_body(api: Api) -> None:
    body = api.get("/v1/pools/small/efficiency", **WINDOW).json()
    with api.factory() as session:
        cost = session.execute(select(func.sum(PoolCost.cost_usd_micros))).scalar_one()
    (day,) = body["days"]
    assert day["cost_usd_micros"] == body["structure"]["cost_usd_micros"] == cost
    s = body["structure"]
    assert s["tokens_usd_micros"] + s["memory_usd_micros"] + s["idle_usd_micros"] == cost
    assert body["max_num_seqs"] == 256 and body["target_occupancy"] == "0.8"
    # decimals travel as strings: exact, never floats
    assert Decimal(day["batch_occupancy"]) == (Decimal(3) / 256).quantize(Decimal("1e-6"))
    assert isinstance(day["usd_per_million_tokens"], str)
    assert 0 < day["headroom_usd_micros"] < cost


def test_what_if_body_and_errors(api: Api) -> None:
    body = api.get("/v1/pools/small/what-if", **WINDOW, replicas=2, kv_dtype="auto").json()
    now, then = body["current"], body["proposed"]
    assert now["gpus"] == 2 and then["gpus"] == 4
    assert then["usd_micros_per_month"] == 2 * now["usd_micros_per_month"] == 4 * 2_990_000 * 730
    assert then["deployment"]["kv_bytes_per_token"] == 2 * now["deployment"]["kv_bytes_per_token"]
    assert body["assumptions"] and isinstance(then["kv_fits"], bool)
    bad = api.get("/v1/pools/small/what-if", **WINDOW, gpu_type="B200")
    assert bad.status_code == 422
    assert bad.json() == {
        "error": "invalid_what_if",
        "detail": "GPU type 'B200' has no price in gpu_prices; add a gpu_prices entry (gpu_type, "
        "usd_per_gpu_hour) for it",
    }
    assert api.get("/v1/pools/small/what-if", **WINDOW, replicas=0).status_code == 422
