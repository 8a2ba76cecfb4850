"""The whole pipeline on the embedded default: simulate, backfill Prometheus, collect, attribute, report.

Data takes the real path: the simulator writes OpenMetrics, promtool turns it into TSDB blocks, a real
Prometheus serves them on a loopback port, the collectors read them over the HTTP API into SQLite, and the
chargeback is computed from the stored lines.
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings, load_settings
from attribution.jobs.attribute import run_attribution
from attribution.localprom import LocalPrometheus, create_blocks
from attribution.reports.chargeback import Chargeback, build_chargeback
from attribution.reports.render import tiers_csv, to_csv, to_json
from attribution.reports.tiers import TierCost, tier_costs
from attribution.sim.history import generate_history
from attribution.sim.scenario import ClusterSpec, demo_cluster
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker

#: Demo prices per GPU-hour (USD). Real prices belong in the TOML config, effective-dated.
DEMO_PRICES_USD_PER_GPU_HOUR = {
    "H100-SXM": "2.99",
    "H200-SXM": "3.79",
    "A100-SXM-80GB": "1.79",
    "B200": "5.49",
}


def demo_settings(spec: ClusterSpec, database_url: str, prometheus_url: str) -> Settings:
    """Settings that describe the simulated cluster, as an operator would write them in TOML."""
    inventory: dict[str, int] = dict(spec.unallocated_gpus)
    for pool in spec.pools:
        inventory[pool.gpu_key] = inventory.get(pool.gpu_key, 0) + pool.gpus
    return load_settings(
        database_url=database_url,
        prometheus_url=prometheus_url,
        inventory=inventory,
        gpu_prices=[
            {"gpu_type": k, "usd_per_gpu_hour": DEMO_PRICES_USD_PER_GPU_HOUR[k]} for k in sorted(inventory)
        ],
        pools=[
            {
                "name": pool.name,
                "model": pool.model_key,
                "served_model_name": pool.served_model_name,
                "tensor_parallel_size": pool.gpus,
                "max_num_seqs": pool.max_num_seqs,
                "gpu_selector": {"namespace": spec.namespace, "pod": f"{pool.name}-[0-9]+"},
            }
            for pool in spec.pools
        ],
    )


@dataclass(slots=True)
class DemoRun:
    chargeback: Chargeback
    out_dir: Path
    tiers: list[TierCost] = field(default_factory=list)
    timings_seconds: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def _timed(run: DemoRun, name: str, say: Callable[[str], None]) -> Callable[[float], None]:
    def done(started: float) -> None:
        run.timings_seconds[name] = round(time.monotonic() - started, 2)
        say(f"{name}: {run.timings_seconds[name]:.1f} s")

    return done


def run_demo(
    out_dir: Path,
    days: int = 7,
    seed: int = 0,
    end: datetime | None = None,
    say: Callable[[str], None] = print,
) -> DemoRun:
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    spec = demo_cluster(seed=seed)
    work = out_dir / "work"
    t0 = time.monotonic()
    say(f"simulating {days} days ({start:%Y-%m-%d} to {end:%Y-%m-%d}) of {len(spec.pools)} pools ...")
    history = generate_history(spec, start, end, work / "history")
    placeholder = Chargeback(start, end, "USD", [], 0, 0, 0, 0, 0, {})
    run = DemoRun(placeholder, out_dir)
    run.facts.update(samples=history.samples, requests=history.requests)
    _timed(run, "simulate", say)(t0)
    t0 = time.monotonic()
    say("loading the history into Prometheus (promtool tsdb create-blocks-from openmetrics) ...")
    create_blocks(history.openmetrics_path, work / "tsdb")
    history.openmetrics_path.unlink()
    _timed(run, "promtool", say)(t0)
    database_url = f"sqlite:///{(out_dir / 'attribution.db').resolve()}"
    with LocalPrometheus(work / "tsdb") as prom:
        settings = demo_settings(spec, database_url, prom.url)
        upgrade(database_url)
        factory = make_sessionmaker(make_engine(database_url))
        t0 = time.monotonic()
        say(f"collecting from Prometheus at {prom.url} ...")
        collected = collect_window(PromClient(prom.url), settings, factory, start, end)
        run.facts["rows_collected"] = collected.rows_by_table
        _timed(run, "collect", say)(t0)
    t0 = time.monotonic()
    summary = run_attribution(settings, factory, start, end)
    run.facts["lines"] = summary.lines
    _timed(run, "attribute", say)(t0)
    with factory() as session:
        run.chargeback = build_chargeback(session, start, end, settings.interval_seconds)
        run.tiers = tier_costs(session, start, end, settings.tiers.names)
    (out_dir / "chargeback.csv").write_text(to_csv(run.chargeback))
    (out_dir / "tiers.csv").write_text(tiers_csv(run.tiers))
    (out_dir / "chargeback.json").write_text(to_json(run.chargeback))
    shutil.copy(history.truth_path, out_dir / "truth.json")
    run.facts["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    (out_dir / "run.json").write_text(
        json.dumps({"timings_seconds": run.timings_seconds, **run.facts}, indent=2, sort_keys=True)
    )
    return run
