"""The simulated cluster, served by a real Prometheus, for the scheduler tests."""

from __future__ import annotations

from tests.support.simulated import sim_prometheus, simulated

__all__ = ["sim_prometheus", "simulated"]
