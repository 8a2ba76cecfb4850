"""A deterministic simulated inference cluster that speaks the same metrics as the real exporters.

History mode (``generate_history``) streams OpenMetrics backfill files with vLLM 0.33.0 / SGLang 0.5.23,
dcgm-exporter, LiteLLM 1.110.2, OpenTelemetry GenAI and native gateway series, plus the ground truth they
were generated from. Live mode (``attribution.sim.live``) serves the same series on one ``/metrics``
endpoint per target. Named scenarios: ``scenario(name, seed=...)``; the pools they are built from are
presets in ``pools.toml`` (``pool_preset(name, ...)``). See docs/simulator.md.
"""

from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS
from attribution.sim.cluster import (
    BurstProcess,
    ClusterSpec,
    Exporters,
    Outage,
    PoolSpec,
    ScheduledBurst,
    TenantProfile,
)
from attribution.sim.fleet import fleet
from attribution.sim.history import HistoryResult, generate_history
from attribution.sim.pool_presets import pool_preset
from attribution.sim.scenarios import SCENARIOS, demo_cluster, scenario

__all__ = [
    "DEFAULT_TIER_BOUNDARIES_TOKENS",
    "SCENARIOS",
    "BurstProcess",
    "ClusterSpec",
    "Exporters",
    "HistoryResult",
    "Outage",
    "PoolSpec",
    "ScheduledBurst",
    "TenantProfile",
    "demo_cluster",
    "fleet",
    "generate_history",
    "pool_preset",
    "scenario",
]
