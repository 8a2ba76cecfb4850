"""Fixtures of the report tests: the billing history (tests/support/billing_history.py) and the simulated
cluster's fixtures for the simulator's data."""

from __future__ import annotations

from tests.support.billing_history import history
from tests.support.simulated import sim_prometheus, simulated

__all__ = ["history", "sim_prometheus", "simulated"]
