"""OpenCost's allocation response (``core/pkg/opencost/allocation_json.go`` ``AllocationJSON``, wrapped by
``pkg/costmodel/router.go`` ``WrapData``) and its error body (``core/pkg/protocol/http.go`` ``WriteError``),
as OpenAPI shows them. Field names are OpenCost's wire names, camelCase."""

# ruff: noqa: N815

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class OpenCostWindow(BaseModel):
    start: str
    end: str


class OpenCostProperties(BaseModel):
    """The properties OpenCost keeps on an aggregate: the cluster and the keys aggregated by."""

    cluster: str | None = None
    namespace: str | None = None
    controller: str | None = None
    labels: dict[str, str] | None = None


class OpenCostAllocation(BaseModel):
    """Costs in US dollars (whole cents); quantities we have no figure for are zero."""

    name: str
    properties: OpenCostProperties
    window: OpenCostWindow
    start: str
    end: str
    minutes: float
    cpuCores: float
    cpuCoreRequestAverage: float
    cpuCoreLimitAverage: float
    cpuCoreUsageAverage: float
    cpuCoreHours: float
    cpuCost: float
    cpuCostAdjustment: float
    cpuCostIdle: float
    cpuEfficiency: float
    gpuCount: float
    gpuHours: float
    gpuCost: float
    gpuCostAdjustment: float
    gpuCostIdle: float
    gpuEfficiency: float
    networkTransferBytes: float
    networkReceiveBytes: float
    networkCost: float
    networkCrossZoneCost: float
    networkCrossRegionCost: float
    networkInternetCost: float
    networkCostAdjustment: float
    loadBalancerCost: float
    loadBalancerCostAdjustment: float
    pvBytes: float
    pvByteHours: float
    pvCost: float
    pvCostAdjustment: float
    ramBytes: float
    ramByteRequestAverage: float
    ramByteLimitAverage: float
    ramByteUsageAverage: float
    ramByteHours: float
    ramCost: float
    ramCostAdjustment: float
    ramCostIdle: float
    ramEfficiency: float
    externalCost: float
    sharedCost: float
    totalCost: float
    totalEfficiency: float
    pvs: Any = None
    lbAllocations: Any = None
    gpuAllocation: Any = None
    proportionalAssetResourceCosts: Any = None
    sharedCostBreakdown: Any = None


class OpenCostAllocationResponse(BaseModel):
    code: int = Field(description="200")
    status: str = Field(description="success")
    data: list[dict[str, OpenCostAllocation]] = Field(description="one allocation set per step")


class OpenCostError(BaseModel):
    code: int = Field(description="the HTTP status")
    data: None = None
    message: str = Field(description="what was wrong and how to fix it")
