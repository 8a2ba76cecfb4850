"""OpenCost's allocation API over our lines: OpenCost's response shape, and sums equal to our chargeback.

The data is the two-tenant hour of ``api`` (2026-11-02 00:00) and a second hour the next day (05:00) with
globex alone, so steps, days and the month have different lines. The response model below is written from
OpenCost's Go source (``core/pkg/opencost/allocation_json.go`` ``AllocationJSON``, ``window.go``
``Window.MarshalJSON``, ``allocationprops.go`` ``AllocationProperties``, ``pkg/costmodel/router.go``
``WrapData``), not from our schema, and forbids any field OpenCost does not send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import END, Api, bearer, create_api_key, store_two_tenants

DAY2 = T0 + timedelta(days=1, hours=5)
MONTH = "2026-11-01T00:00:00Z,2026-12-01T00:00:00Z"
DAY1 = "2026-11-02T00:00:00Z,2026-11-03T00:00:00Z"
TWO_DAYS = "2026-11-02T00:00:00Z,2026-11-04T00:00:00Z"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GoWindow(_Strict):
    start: str
    end: str


class GoAllocationProperties(_Strict):
    cluster: str | None = None
    node: str | None = None
    container: str | None = None
    controller: str | None = None
    controllerKind: str | None = None  # noqa: N815
    namespace: str | None = None
    pod: str | None = None
    services: list[str] | None = None
    providerID: str | None = None  # noqa: N815
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    namespaceLabels: dict[str, str] | None = None  # noqa: N815
    namespaceAnnotations: dict[str, str] | None = None  # noqa: N815


#: AllocationJSON's float fields (``*float64``: a number, or null for NaN/Inf), in the struct's order;
#: gpuRequestAverage and gpuUsageAverage are ``json:"-"``, never sent.
GO_FLOATS = [
    "minutes",
    "cpuCores",
    "cpuCoreRequestAverage",
    "cpuCoreLimitAverage",
    "cpuCoreUsageAverage",
    "cpuCoreHours",
    "cpuCost",
    "cpuCostAdjustment",
    "cpuCostIdle",
    "cpuEfficiency",
    "gpuCount",
    "gpuHours",
    "gpuCost",
    "gpuCostAdjustment",
    "gpuCostIdle",
    "gpuEfficiency",
    "networkTransferBytes",
    "networkReceiveBytes",
    "networkCost",
    "networkCrossZoneCost",
    "networkCrossRegionCost",
    "networkInternetCost",
    "networkCostAdjustment",
    "loadBalancerCost",
    "loadBalancerCostAdjustment",
    "pvBytes",
    "pvByteHours",
    "pvCost",
    "pvCostAdjustment",
    "ramBytes",
    "ramByteRequestAverage",
    "ramByteLimitAverage",
    "ramByteUsageAverage",
    "ramByteHours",
    "ramCost",
    "ramCostAdjustment",
    "ramCostIdle",
    "ramEfficiency",
    "externalCost",
    "sharedCost",
    "totalCost",
    "totalEfficiency",
]


class GoAllocation(_Strict):
    name: str
    properties: GoAllocationProperties | None
    window: GoWindow
    start: str
    end: str
    pvs: dict[str, Any] | None
    lbAllocations: dict[str, Any] | None  # noqa: N815
    gpuAllocation: dict[str, Any] | None  # noqa: N815
    rawAllocationOnly: dict[str, Any] | None = None  # noqa: N815  (omitempty)
    proportionalAssetResourceCosts: dict[str, Any] | None = None  # noqa: N815  (omitempty)
    sharedCostBreakdown: dict[str, Any] | None = None  # noqa: N815  (omitempty)


def _validate(allocation: dict[str, Any]) -> None:
    """Every AllocationJSON field present with its Go type; nothing else."""
    floats = {k: allocation.pop(k) for k in GO_FLOATS}
    assert all(v is None or isinstance(v, int | float) for v in floats.values()), floats
    GoAllocation.model_validate(allocation)
    allocation.update(floats)


class GoResponse(_Strict):
    code: int
    status: str
    data: list[dict[str, dict[str, Any]]]
    message: str | None = None


def _sets(api: Api, **params: Any) -> list[dict[str, dict[str, Any]]]:
    response = api.get("/allocation", **params)
    assert response.status_code == 200, response.text
    body = GoResponse.model_validate(response.json())
    assert (body.code, body.status) == (200, "success")
    for allocations in body.data:
        for name, allocation in allocations.items():
            assert allocation["name"] == name
            _validate(allocation)
    return body.data


def _cents(allocation: dict[str, Any], field: str = "totalCost") -> int:
    value = round(allocation[field] * 100)
    assert allocation[field] == value / 100  # whole cents, no float residue
    return value


def _chargeback(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/chargeback", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def two_days(api: Api) -> Api:
    usage = [create_usage_row(m, "globex", "0-4k", 150_000.0, start=DAY2, requests=2) for m in range(60)]
    store(api.factory, create_gpu_rows(60, start=DAY2), create_kv_rows(60, 0.01, start=DAY2), usage)
    run_attribution(api.settings, api.factory, DAY2, DAY2 + timedelta(hours=1))
    return api


@pytest.mark.parametrize(
    ("window", "chargeback"),
    [
        (MONTH, {"period": "2026-11"}),
        (MONTH, {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}),
        (DAY1, {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}),
    ],
)
def test_sums_to_the_chargeback_to_the_cent(two_days: Api, window: str, chargeback: dict[str, str]) -> None:
    """With idle included, a set is the chargeback of its window: in total, and tenant by tenant."""
    expected = _chargeback(two_days, **chargeback)
    by_tenant = {t["tenant"]: t["total_cents"] for t in expected["tenants"]}
    for share in ("true", "false"):
        (found,) = _sets(two_days, window=window, aggregate="namespace", includeIdle="true", shareIdle=share)
        assert sum(_cents(a) for a in found.values()) == expected["total_cents"] > 0
        if share == "true":
            assert {name: _cents(a) for name, a in found.items()} == by_tenant
    (finest,) = _sets(two_days, window=window, includeIdle="true", shareIdle="true")
    assert sum(_cents(a) for a in finest.values()) == expected["total_cents"]


def test_idle_left_out_separate_or_shared(api: Api) -> None:
    """No includeIdle: idle left out; with it: an ``__idle__`` line; with shareIdle too: in each tenant."""
    window = "2026-11-02T00:00:00Z,2026-11-02T01:00:00Z"
    tenants = {t["tenant"]: t for t in _chargeback(api, start=iso0(), end=iso1())["tenants"]}
    idle_total = sum(t["idle_cents"] for t in tenants.values())
    assert idle_total > 0

    (left_out,) = _sets(api, window=window, aggregate="namespace")
    assert "__idle__" not in left_out
    for name, a in left_out.items():
        assert _cents(a) == _cents(a, "gpuCost") == tenants[name]["total_cents"] - tenants[name]["idle_cents"]
        assert a["ramCost"] == a["cpuCost"] == 0

    (separate,) = _sets(api, window=window, aggregate="namespace", includeIdle="true")
    assert _cents(separate.pop("__idle__")) == idle_total
    assert separate == left_out

    (shared,) = _sets(api, window=window, aggregate="namespace", includeIdle="true", shareIdle="true")
    assert "__idle__" not in shared
    for name, a in shared.items():
        assert _cents(a) == tenants[name]["total_cents"]
        assert _cents(a, "gpuCostIdle") == tenants[name]["idle_cents"]
    # shareIdle alone does nothing, as in OpenCost: there is no idle to share unless it is included
    assert _sets(api, window=window, aggregate="namespace", shareIdle="true") == [left_out]


def iso0() -> str:
    return "2026-11-02T00:00:00Z"


def iso1() -> str:
    return "2026-11-02T01:00:00Z"


@pytest.mark.parametrize(
    ("aggregate", "names", "properties"),
    [
        ("namespace", {"acme", "globex", "__unmeasured__"}, {"namespace"}),
        ("label:tenant", {"acme", "globex", "__unmeasured__"}, {"labels"}),
        ("controller", {"small", "__cluster__", "__unallocated__"}, {"controller"}),
        ("label:pool", {"small", "__cluster__", "__unallocated__"}, {"labels"}),
        ("label:tier", {"0-4k", "4k-32k"}, {"labels"}),
        ("cluster", {"default"}, set()),
        ("namespace,label:tier", {"acme/0-4k", "acme/4k-32k", "globex/0-4k"}, {"namespace", "labels"}),
    ],
)
def test_each_aggregate_key(api: Api, aggregate: str, names: set[str], properties: set[str]) -> None:
    """Each key groups our lines by its dimension; every grouping sums to the same total."""
    window = f"{iso0()},{iso1()}"
    (total,) = _sets(api, window=window, aggregate="cluster", includeIdle="true", shareIdle="true")
    (found,) = _sets(api, window=window, aggregate=aggregate, includeIdle="true", shareIdle="true")
    assert names <= set(found), sorted(found)
    assert sum(_cents(a) for a in found.values()) == _cents(total["default"])
    for a in found.values():
        assert set(a["properties"]) == {"cluster", *properties}
        assert a["properties"]["cluster"] == "default"


def test_default_aggregate_is_the_finest_line(api: Api) -> None:
    (found,) = _sets(api, window=f"{iso0()},{iso1()}")
    assert "default/acme/small/4k-32k" in found
    line = found["default/acme/small/4k-32k"]
    assert line["properties"]["labels"] == {"tenant": "acme", "pool": "small", "tier": "4k-32k"}
    assert line["window"] == {"start": iso0(), "end": iso1()} and line["minutes"] == 60


def test_accumulate_and_step(two_days: Api) -> None:
    """accumulate=false with a step: a set per step, each the chargeback of its own window (empty steps
    are empty sets); accumulate=true: one set for the window."""
    days = _sets(two_days, window=TWO_DAYS, aggregate="namespace", step="1d", includeIdle="true")
    assert len(days) == 2
    for (start, end), found in zip(
        [("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"), ("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")],
        days,
        strict=True,
    ):
        assert (
            sum(_cents(a) for a in found.values())
            == _chargeback(two_days, start=start, end=end)["total_cents"]
        )
        assert {a["start"] for a in found.values()} == {start}
    assert "acme" in days[0] and "acme" not in days[1]

    hours = _sets(two_days, window=DAY1, aggregate="namespace", step="1h", accumulate="false")
    assert len(hours) == 24 and hours[0] and not any(hours[1:])

    (whole,) = _sets(
        two_days, window=TWO_DAYS, aggregate="namespace", step="1d", accumulate="true", includeIdle="true"
    )
    assert (
        sum(_cents(a) for a in whole.values())
        == _chargeback(two_days, start="2026-11-02T00:00:00Z", end="2026-11-04T00:00:00Z")["total_cents"]
    )
    assert len(_sets(two_days, window=TWO_DAYS, accumulate="day")) == 2


def test_compute_is_the_same_handler(api: Api) -> None:
    params = {"window": f"{iso0()},{iso1()}", "aggregate": "namespace", "includeIdle": "true"}
    assert api.get("/allocation/compute", **params).json() == api.get("/allocation", **params).json()


def test_unix_pair_and_named_windows(api: Api) -> None:
    start = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
    assert _sets(api, window=f"{start},{start + 3600}") == _sets(api, window=f"{iso0()},{iso1()}")
    for window in ("today", "yesterday", "week", "lastweek", "month", "lastmonth", "24h", "7d", "2w", "30m"):
        assert len(_sets(api, window=window)) == 1


def test_a_tenant_key_sees_its_own_tenant(api: Api) -> None:
    (found,) = _sets_with(api, "acme", window=f"{iso0()},{iso1()}", aggregate="namespace", includeIdle="true")
    assert set(found) <= {"acme", "__idle__"} and "acme" in found


def _sets_with(api: Api, key: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/allocation", key=key, **params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_unauthenticated_is_401(api: Api) -> None:
    response = api.get("/allocation", key=None, window="today")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"window": "last tuesday"}, "'window'"),
        ({}, "'window'"),
        ({"window": "2026-11-02T01:00:00Z,2026-11-02T00:00:00Z"}, "'window'"),
        ({"window": "400000d"}, "'window'"),
        ({"window": "99999999999,1"}, "'window'"),
        ({"window": "today", "aggregate": "pod"}, "'aggregate'"),
        ({"window": "today", "step": "90s"}, "'step'"),
        ({"window": "today", "step": "soon"}, "'step'"),
        ({"window": "7d", "step": "1h", "accumulate": "false"}, None),
        ({"window": "today", "accumulate": "fortnight"}, "'accumulate'"),
        ({"window": "today", "includeIdle": "yes"}, "'includeIdle'"),
        ({"window": "today", "shareIdle": "2"}, "'shareIdle'"),
        ({"window": "today", "filter": 'namespace:"acme"'}, "'filter'"),
    ],
)
def test_bad_parameters_are_opencost_400s(api: Api, params: dict[str, str], names: str | None) -> None:
    """OpenCost's error body (``protocol.WriteError``): ``{code, data, message}``, one line naming the fix."""
    response = api.get("/allocation", **params)
    if names is None:  # within the limits: answered
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "data", "message"} and body["code"] == 400 and body["data"] is None
    assert body["message"].startswith(f"Invalid {names} parameter") and "\n" not in body["message"]
    assert "use " in body["message"]


def test_separate_idle_policy_stays_idle_when_shared(pg_factory: sessionmaker[Session]) -> None:
    """Under our ``separate`` policy idle is a ``__idle__`` tenant of its own: it is idle with includeIdle,
    left out without, and stays ``__idle__`` under shareIdle (what OpenCost does with idle it cannot
    share); the set still sums to the chargeback."""
    store_two_tenants(pg_factory)
    settings = small_cluster_settings(max_window_days=31, policies={"idle": "separate"})
    run_attribution(settings, pg_factory, T0, END)
    client = TestClient(create_app(settings, pg_factory), raise_server_exceptions=False)
    client.headers.update(bearer(create_api_key(pg_factory, "finance")))
    chargeback = client.get("/v1/chargeback", params={"start": iso0(), "end": iso1()}).json()
    idle_tenant = next(t for t in chargeback["tenants"] if t["tenant"] == "__idle__")
    params = {"window": f"{iso0()},{iso1()}", "aggregate": "namespace", "includeIdle": "true"}
    for share in ("true", "false"):
        (found,) = client.get("/allocation", params={**params, "shareIdle": share}).json()["data"]
        assert sum(_cents(a) for a in found.values()) == chargeback["total_cents"]
        assert _cents(found["__idle__"]) >= idle_tenant["total_cents"] > 0
    (left_out,) = client.get("/allocation", params={**params, "includeIdle": "false"}).json()["data"]
    assert "__idle__" not in left_out
