"""The simulator's ``shared-gpus`` scenario end to end: dcgm-exporter's MIG and time-sliced series, vLLM and
the gateway, backfilled into a real Prometheus, collected and attributed on Postgres with the demo's
settings. Each pool on part of a GPU pays the part its ground truth says (a MIG instance its memory slices,
a time-sliced engine its framebuffer), its tenants pay it, and the rest of each GPU is unallocated.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.catalog import get_gpu
from attribution.collectors.run import collect_window
from attribution.demo import demo_settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.inputs import price_schedules
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.model.gpu_cost import span_cost_usd_micros
from attribution.sim import generate_history, scenario
from attribution.store.tables import AttributedCost, ClusterCost, GpuSample, PoolCost
from tests.support.services import missing_service

START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(hours=1)


def test_pools_on_mig_instances_and_time_slices_pay_their_part(
    tmp_path: Path, pg_tx: sessionmaker[Session]
) -> None:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover
        missing_service(
            "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
        )
    spec = scenario("shared-gpus", seed=3)
    history = generate_history(spec, START, END, tmp_path / "history")
    truth = json.loads(history.truth_path.read_text())
    create_blocks(history.openmetrics_path, tmp_path / "tsdb")
    with LocalPrometheus(tmp_path / "tsdb") as prom:
        settings = demo_settings(spec, "sqlite://", prom.url)
        collect_window(None, settings, pg_tx, START, END)
    run_attribution(settings, pg_tx, START, END)

    assert settings.inventory == {"H100-SXM": 2, "A100-SXM-80GB": 1}
    schedules = price_schedules(settings)
    with pg_tx() as session:
        pool_rows = session.execute(
            select(PoolCost.interval_start, PoolCost.pool, PoolCost.cost_usd_micros, PoolCost.memory_bytes)
        ).all()
        tenant_paid = dict(
            session.execute(
                select(AttributedCost.pool, func.sum(AttributedCost.total_usd_micros))
                .where(AttributedCost.tenant.not_like("\\_\\_%"))
                .group_by(AttributedCost.pool)
            ).all()
        )
        total, unmeasured, sampled = session.execute(
            select(
                func.sum(ClusterCost.cost_usd_micros),
                func.sum(ClusterCost.unmeasured_usd_micros),
                func.sum(ClusterCost.gpus_sampled),
            )
        ).one()
        lines_total = session.execute(select(func.sum(AttributedCost.total_usd_micros))).scalar_one()
        problems = session.execute(select(func.count()).where(GpuSample.problem.is_not(None))).scalar_one()

    intervals = 60
    assert (problems, unmeasured, sampled) == (0, 0, 3 * intervals), "every GPU and series placed"
    assert lines_total == total
    by_pool: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    for t, pool, cost, memory in pool_rows:
        by_pool[pool].append((t, int(cost), int(memory)))
    for p in truth["pools"]:
        numerator, denominator = p["gpu_share"]
        gpu = get_gpu(p["gpu_key"])
        rows = by_pool[p["pool"]]
        assert len(rows) == intervals
        for t, cost, memory in rows:
            ts = int(t.timestamp())
            gpu_cost = span_cost_usd_micros(schedules[p["gpu_key"]], 1, ts, ts + 60)
            assert abs(cost - gpu_cost * numerator / denominator) <= 1, (p["pool"], t)
            assert abs(memory - gpu.memory_bytes * numerator / denominator) <= gpu.memory_bytes / 1_000_000
        # the pool's tenants carry its cost (idle shared among them within the hour)
        assert tenant_paid[p["pool"]] == sum(cost for _, cost, _ in rows), p["pool"]
