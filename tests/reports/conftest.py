"""Fixtures of the report tests (defined in tests/support): the billing history, the hostile names, the
simulated cluster collected and attributed, and the simulated cluster's own fixtures."""

from __future__ import annotations

from tests.support.billing_history import history
from tests.support.hostile import hostile
from tests.support.simulated import sim_prometheus, simulated
from tests.support.simulated_db import simulated_db

__all__ = ["history", "hostile", "sim_prometheus", "simulated", "simulated_db"]
