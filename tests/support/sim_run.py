"""One simulator run in memory, chunk by chunk: what the engine and scenario tests inspect."""

from __future__ import annotations

import math

import numpy as np

from attribution.sim import ClusterSpec
from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS
from attribution.sim.chunk import Chunk, ClusterSim, SimContext

START_UNIX = 1_793_491_200  # 2026-11-01T00:00:00Z


def run(spec: ClusterSpec, begin: float, end: float, scrape_seconds: float = 15.0) -> list[Chunk]:
    context = SimContext(spec, START_UNIX, DEFAULT_TIER_BOUNDARIES_TOKENS, include_histograms=False)
    sim = ClusterSim(context, begin)
    chunks = []
    while sim.now < end:
        stop = min(sim.now + 1800.0, end)
        chunks.append(sim.step(stop, np.arange(math.ceil(sim.now), stop, scrape_seconds)))
    return chunks
