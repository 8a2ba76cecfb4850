"""The simulated cluster, served by a real Prometheus (and VictoriaMetrics), for the scheduler tests."""

from __future__ import annotations

from tests.support.simulated import sim_prometheus, sim_victoria, simulated

__all__ = ["sim_prometheus", "sim_victoria", "simulated"]
