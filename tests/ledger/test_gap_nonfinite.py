"""Review finding: a +inf KV usage reading with no requests-running figure was neither idle nor a gap.

``split_pool_interval`` clamps +inf to a full cache (KV in use = the whole KV cost, on ``__unmeasured__``)
while ``engine_active`` ignores non-finite readings, so the interval was not a gap and the model gave that
``__unmeasured__`` amount no weight in idle settlement. A run over part of the period reads the weights
outside it from ``pool_costs.unmeasured_usd_micros``, which does count it: the two runs settled the same
idle differently.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.gap import GAP, MINUTES, stored


def test_a_run_over_part_of_the_period_settles_as_the_whole_run(pg_tx: sessionmaker[Session]) -> None:
    ratios = [0.2 if m < 60 else float("inf") if m in GAP else 0.0 for m in range(MINUTES)]
    kv = create_kv_rows(MINUTES, ratios)
    for m in GAP:
        kv[m]["requests_running"] = None  # an engine that does not export it
    usage = [create_usage_row(m, "acme", "0-4k", 6_000_000.0) for m in range(60)]
    store(pg_tx, create_gpu_rows(MINUTES), kv, usage)
    settings = small_cluster_settings(line_grain_seconds=3600)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    whole = stored(pg_tx)
    hour2 = T0 + timedelta(hours=2)
    run_attribution(settings, pg_tx, hour2, hour2 + timedelta(hours=1))
    assert stored(pg_tx) == whole
