"""Backends for collector tests: the same OpenMetrics history served by Prometheus or VictoriaMetrics."""

from __future__ import annotations

from tests.support.simulated import sim_prometheus, sim_victoria, simulated

__all__ = ["sim_prometheus", "sim_victoria", "simulated"]
