"""The enabled exporters of a cluster: their scrape targets, and the builders that fill them chunk by chunk.

Target order (and live mode's port order): engines (one per pool, in pool order), dcgm-exporter hosts,
the native gateway, LiteLLM, the OpenTelemetry collector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.dcgm import DcgmBuilder
from attribution.sim.exposition import Family, Target, merge_families
from attribution.sim.gateway import GatewayBuilder
from attribution.sim.litellm import LitellmBuilder
from attribution.sim.otel import OtelBuilder
from attribution.sim.sglang import SglangBuilder
from attribution.sim.targets import (
    GATEWAY_TARGET,
    LITELLM_TARGET,
    OTEL_TARGET,
    dcgm_target,
    engine_target,
    gpu_inventory,
    service_target,
)
from attribution.sim.trtllm import TritonTrtllmBuilder, TrtllmServeBuilder
from attribution.sim.vllm import VllmBuilder


class Builder(Protocol):
    def families(self, chunk: Chunk) -> list[Family]: ...


#: The exporter of each engine kind (``PoolSpec.engine``).
ENGINE_BUILDERS: dict[str, Callable[[SimContext, int, int], Builder]] = {
    "vllm": VllmBuilder,
    "sglang": SglangBuilder,
    "triton-trtllm": TritonTrtllmBuilder,
    "trtllm-serve": TrtllmServeBuilder,
}


class ClusterExporters:
    """``targets`` and, per chunk, the merged ``families`` of every enabled exporter."""

    def __init__(self, context: SimContext) -> None:
        spec = context.spec
        switches = spec.exporters
        self.targets: list[Target] = []
        self.builders: list[Builder] = []
        #: Per pool, its engine's target index (empty when engines are switched off).
        self.engine_targets: list[int] = []
        if switches.engines:
            for p, pool in enumerate(spec.pools):
                index = self._add(engine_target(spec, pool))
                self.engine_targets.append(index)
                self.builders.append(ENGINE_BUILDERS[pool.engine](context, p, index))
        if switches.dcgm:
            gpus = gpu_inventory(spec)
            hosts = {host: self._add(dcgm_target(host)) for host in dict.fromkeys(g.host for g in gpus)}
            self.builders.append(DcgmBuilder(context, gpus, hosts))
        if switches.native:
            self.builders.append(GatewayBuilder(context, self._add(service_target(spec, GATEWAY_TARGET))))
        if switches.litellm:
            self.builders.append(LitellmBuilder(context, self._add(service_target(spec, LITELLM_TARGET))))
        if switches.otel:
            self.builders.append(OtelBuilder(context, self._add(service_target(spec, OTEL_TARGET))))

    def _add(self, target: Target) -> int:
        self.targets.append(target)
        return len(self.targets) - 1

    def families(self, chunk: Chunk) -> list[Family]:
        return merge_families([builder.families(chunk) for builder in self.builders])
