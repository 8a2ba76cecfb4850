"""A deterministic simulated inference cluster that speaks the same metrics as the real exporters.

History mode (``generate_history``) writes an OpenMetrics backfill file with vLLM 0.33.0,
dcgm-exporter and native gateway series, plus the ground truth they were generated from.
See docs/simulator.md.
"""

from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS
from attribution.sim.history import HistoryResult, generate_history
from attribution.sim.scenario import ClusterSpec, PoolSpec, TenantProfile, demo_cluster

__all__ = [
    "DEFAULT_TIER_BOUNDARIES_TOKENS",
    "ClusterSpec",
    "HistoryResult",
    "PoolSpec",
    "TenantProfile",
    "demo_cluster",
    "generate_history",
]
