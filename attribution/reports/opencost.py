"""Our line items as OpenCost allocation sets, so dashboards and tools written for OpenCost read them.

Mapping (docs/opencost-api.md has the reasons):

- ``namespace`` and ``label:tenant`` are the tenant, ``controller`` and ``label:pool`` the pool,
  ``label:tier`` the context tier, ``cluster`` the deployment's one cluster (:data:`CLUSTER`). No
  ``aggregate``: one allocation per line, named ``cluster/tenant/pool/tier``.
- All our cost is GPU cost (memory pinned x time on GPUs), so it is ``gpuCost``; CPU, RAM, PV, network and
  load balancer costs are zero. ``totalCost`` is ``gpuCost``.
- Idle, as OpenCost does it: without ``includeIdle`` it is left out; with it, a separate ``__idle__``
  allocation carries the idle component of every line (and the lines of our ``__idle__`` tenant, the
  ``separate`` policy); with ``shareIdle`` too, each allocation keeps the idle share our idle policy
  gave it (shown again in ``gpuCostIdle``) and only the ``separate`` policy's idle stays ``__idle__``.

Amounts are the lines' cents as our chargeback rounds them over the set's window (each component by
largest remainder within its line), summed in integers and converted to dollars only here, at the edge;
so with ``includeIdle`` a set sums exactly to our chargeback of its window, and every allocation of
``aggregate=namespace`` is that tenant's chargeback to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from attribution.model.vocabulary import IDLE
from attribution.reports.lineitems import LineItem
from attribution.reports.opencost_query import AGGREGATE_KEYS

#: The cluster every line belongs to, until lines carry a cluster of their own.
CLUSTER = "default"
CENTS_PER_DOLLAR = 100

#: The number fields of OpenCost's ``AllocationJSON``, in its order; we have figures for ``minutes``,
#: ``gpuCost``, ``gpuCostIdle`` and ``totalCost``, the rest are zero.
FLOAT_FIELDS = [
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
#: Fields OpenCost sends as ``null`` when empty (Go nil maps and pointers).
NULL_FIELDS = (
    "pvs",
    "lbAllocations",
    "gpuAllocation",
    "proportionalAssetResourceCosts",
    "sharedCostBreakdown",
)


@dataclass(slots=True)
class _Sum:
    properties: dict[str, Any]
    gpu_cents: int = 0
    idle_cents: int = 0
    """The part of ``gpu_cents`` that is shared idle (``shareIdle``)."""


def allocation_set(
    lines: Iterable[LineItem],
    window: tuple[datetime, datetime],
    aggregate: tuple[str, ...],
    include_idle: bool,
    share_idle: bool,
    cluster: str = CLUSTER,
) -> dict[str, dict[str, Any]]:
    """One OpenCost ``AllocationSet`` (name -> allocation, names sorted) of the lines of ``window``. Each
    allocation's ``cluster`` is its lines' (``aggregate=cluster`` groups by it); ``cluster`` names the
    shared ``__idle__`` allocation's."""
    sums: dict[str, _Sum] = {}
    idle_cents = 0
    for line in lines:
        parts = line.component_cents()  # kv_in_use, static, idle, unmeasured: sum to the line's cents
        idle = line.total_cents if line.tenant == IDLE else parts[2]
        if include_idle and (line.tenant == IDLE or not share_idle):
            idle_cents += idle
        if line.tenant == IDLE:
            continue
        name, properties = _key(line, aggregate)
        found = sums.setdefault(name, _Sum(properties))
        if found.properties.get("cluster") != properties["cluster"]:  # an aggregate across clusters
            found.properties.pop("cluster", None)
        found.gpu_cents += line.total_cents - idle
        if include_idle and share_idle:
            found.gpu_cents += idle
            found.idle_cents += idle
    out = {
        name: _allocation(name, s.properties, window, s.gpu_cents, s.idle_cents) for name, s in sums.items()
    }
    if include_idle and (idle_cents or not share_idle):  # shared away entirely: no line, as OpenCost
        out[IDLE] = _allocation(IDLE, {"cluster": cluster}, window, idle_cents, 0)
    return dict(sorted(out.items()))


def _key(line: LineItem, aggregate: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The allocation's name (its key values joined by ``/``, as OpenCost's ``GenerateKey``) and the
    properties OpenCost keeps on an aggregate: the line's cluster and the keys aggregated by."""
    cluster = line.cluster
    values = {"cluster": cluster, "tenant": line.tenant, "pool": line.pool, "tier": line.tier}
    if not aggregate:
        properties = {
            "cluster": cluster,
            "namespace": line.tenant,
            "controller": line.pool,
            "labels": {"tenant": line.tenant, "pool": line.pool, "tier": line.tier},
        }
        return "/".join((cluster, line.tenant, line.pool, line.tier)), properties
    properties = {"cluster": cluster}
    labels: dict[str, str] = {}
    for key in aggregate:
        value = values[AGGREGATE_KEYS[key]]
        if key == "namespace":
            properties["namespace"] = value
        elif key == "controller":
            properties["controller"] = value
        elif key.startswith("label:"):
            labels[key[len("label:") :]] = value
    if labels:
        properties["labels"] = labels
    return "/".join(values[AGGREGATE_KEYS[k]] for k in aggregate), properties


def _allocation(
    name: str, properties: dict[str, Any], window: tuple[datetime, datetime], gpu_cents: int, idle_cents: int
) -> dict[str, Any]:
    start, end = (_rfc3339(t) for t in window)
    known = {
        "minutes": (window[1] - window[0]).total_seconds() / 60,
        "gpuCost": gpu_cents / CENTS_PER_DOLLAR,
        "gpuCostIdle": idle_cents / CENTS_PER_DOLLAR,
        "totalCost": gpu_cents / CENTS_PER_DOLLAR,
    }
    body: dict[str, Any] = {
        "name": name,
        "properties": properties,
        "window": {"start": start, "end": end},
        "start": start,
        "end": end,
    }
    body.update((f, known.get(f, 0.0)) for f in FLOAT_FIELDS)
    body.update(dict.fromkeys(NULL_FIELDS))
    return body


def _rfc3339(t: datetime) -> str:
    """Go's ``time.RFC3339`` of a UTC time: whole seconds, ``Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
