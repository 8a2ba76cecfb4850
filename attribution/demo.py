"""The whole pipeline on the embedded default: simulate, backfill Prometheus, collect, attribute, report.

Data takes the real path: the simulator writes OpenMetrics, promtool turns it into TSDB blocks, a real
Prometheus serves them on a loopback port, the collectors read them over the HTTP API into SQLite, and the
chargeback is computed from the stored lines.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.run import collect_window
from attribution.config import GpuPrice, Settings, load_settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.localprom import LocalPrometheus, create_blocks
from attribution.reports.chargeback import Chargeback, build_chargeback
from attribution.reports.chargeback_render import tiers_csv, to_csv, to_json
from attribution.reports.tiers import TierCost, tier_costs
from attribution.sim.cluster import ClusterSpec
from attribution.sim.history import generate_history
from attribution.sim.scenarios import demo_cluster
from attribution.store.apikeys import create_key
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.timeutil import period_window

#: Demo prices per GPU-hour (USD). Real prices belong in the TOML config, effective-dated.
DEMO_PRICES_USD_PER_GPU_HOUR = {
    "H100-SXM": "2.99",
    "H200-SXM": "3.79",
    "A100-SXM-80GB": "1.79",
    "B200": "5.49",
}


def demo_settings(spec: ClusterSpec, database_url: str, prometheus_url: str) -> Settings:
    """Settings that describe the simulated cluster, as an operator would write them in TOML."""
    inventory = spec.physical_gpus()
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
    database_url: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    """Scope -> an API key made for exploring the demo (the console, the API): shown once, at the end."""
    closed_period: str | None = None


class Stages:
    """Numbered progress lines: ``[2/5] loading ... `` when a stage starts, its time when it ends."""

    def __init__(self, run: DemoRun, count: int, say: Callable[[str], None]) -> None:
        self.run, self.count, self.say, self.done = run, count, say, 0

    def start(self, name: str, text: str) -> Callable[[], None]:
        self.done += 1
        self.say(f"[{self.done}/{self.count}] {text} ...")
        started = time.monotonic()

        def finish() -> None:
            self.run.timings_seconds[name] = round(time.monotonic() - started, 2)
            self.say(f"      {name}: {self.run.timings_seconds[name]:.1f} s")

        return finish


def demo_window(days: int, month: bool, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` whole days; with ``month``, the whole previous calendar month and this month's
    days so far (so the past month can close and this one can carry its corrections)."""
    end = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    if not month:
        return end - timedelta(days=days), end
    first_of_this = end.replace(day=1)
    return (first_of_this - timedelta(days=1)).replace(day=1), end


def run_demo(
    out_dir: Path,
    days: int = 7,
    seed: int = 0,
    end: datetime | None = None,
    say: Callable[[str], None] = print,
    month: bool = False,
) -> DemoRun:
    start, end = demo_window(days, month, end)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    spec = demo_cluster(seed=seed)
    run = DemoRun(Chargeback(start, end, "USD", [], 0, 0, 0, 0, 0, {}), out_dir)
    stages = Stages(run, 6 if month else 5, say)
    n = (end - start).days
    span = f"{n} day{'s' if n != 1 else ''} ({start:%Y-%m-%d} to {end:%Y-%m-%d})"
    finish = stages.start("simulate", f"simulating {span} of {len(spec.pools)} pools")
    history = generate_history(spec, start, end, out_dir / "work" / "history")
    run.facts.update(samples=history.samples, requests=history.requests)
    finish()
    finish = stages.start("promtool", "loading the history into Prometheus (promtool create-blocks)")
    create_blocks(history.openmetrics_path, out_dir / "work" / "tsdb")
    history.openmetrics_path.unlink()
    finish()
    run.database_url = f"sqlite:///{(out_dir / 'attribution.db').resolve()}"
    with LocalPrometheus(out_dir / "work" / "tsdb") as prom:
        settings = demo_settings(spec, run.database_url, prom.url)
        _quiet_upgrade(run.database_url)
        factory = make_sessionmaker(make_engine(run.database_url))
        finish = stages.start("collect", f"collecting from Prometheus at {prom.url}")
        collected = collect_window(None, settings, factory, start, end)
        run.facts["rows_collected"] = collected.rows_by_table
        finish()
    finish = stages.start("attribute", "attributing cost with the memory-time model")
    run.facts["lines"] = run_attribution(settings, factory, start, end).lines
    finish()
    if month:
        finish = stages.start("close", f"closing {start:%Y-%m}, then restating it with a backdated price")
        run.closed_period, run.facts["correction_lines"] = close_and_restate(settings, factory, start)
        finish()
    finish = stages.start("report", "writing the reports and API keys to explore them")
    _write_reports(run, settings, factory, start, end, history.truth_path)
    finish()
    return run


def _quiet_upgrade(database_url: str) -> None:
    """Migrate without Alembic's INFO line per revision: a demo's reader needs none of them."""
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        upgrade(database_url)
    finally:
        alembic.setLevel(level)


#: The backdated price the month demo restates its closed month with: H100s cost 10% more from day 21.
RESTATED_H100_USD_PER_GPU_HOUR = "3.29"


def close_and_restate(
    settings: Settings, factory: sessionmaker[Session], month_start: datetime
) -> tuple[str, int]:
    """Close the month at ``month_start``, then apply a backdated H100 price from its 21st day and
    re-attribute: the closed statement stays as issued and the difference is billed as corrections in
    the next open period (what finance sees after late data or a price correction)."""
    period = f"{month_start:%Y-%m}"
    with unit_of_work(factory) as session:
        close_period(session, period, settings.interval_seconds, "demo", settings.rates())
    _, month_end = period_window(period)
    backdated = month_start + timedelta(days=20)
    prices = [p.model_dump() for p in settings.gpu_prices]
    prices.append(
        {
            "gpu_type": "H100-SXM",
            "usd_per_gpu_hour": RESTATED_H100_USD_PER_GPU_HOUR,
            "effective_from": backdated,
        }
    )
    restated = settings.model_copy(update={"gpu_prices": [GpuPrice(**p) for p in prices]})
    summary = run_attribution(restated, factory, backdated, month_end)
    return period, summary.correction_lines


def _write_reports(
    run: DemoRun,
    settings: Settings,
    factory: sessionmaker[Session],
    start: datetime,
    end: datetime,
    truth: Path,
) -> None:
    out_dir = run.out_dir
    with unit_of_work(factory) as session:
        run.chargeback = build_chargeback(session, start, end, settings.interval_seconds)
        run.tiers = tier_costs(session, start, end, settings.tiers.names)
        for scope in ("admin", f"tenant:{EXPLORE_TENANT}"):
            run.keys[scope] = create_key(session, [scope], "made by attribution demo").token
    (out_dir / "chargeback.csv").write_text(to_csv(run.chargeback))
    (out_dir / "tiers.csv").write_text(tiers_csv(run.tiers))
    (out_dir / "chargeback.json").write_text(to_json(run.chargeback))
    shutil.copy(truth, out_dir / "truth.json")
    run.facts["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    (out_dir / "run.json").write_text(
        json.dumps({"timings_seconds": run.timings_seconds, **run.facts}, indent=2, sort_keys=True)
    )


#: The price list the console's context-tier page compares with, when the package runs from a checkout.
DEMO_PRICE_LIST = Path(__file__).resolve().parents[1] / "deploy" / "pricing" / "long-context-128k.toml"
#: The demo's busiest chat tenant, used in the docs' examples and given its own key.
EXPLORE_TENANT = "acme-chat"


def next_steps(run: DemoRun, price_list: Path | None = None) -> list[str]:
    """What to type next: the database to point at, the console and its keys, a statement."""
    period = run.closed_period or f"{run.chargeback.end - timedelta(seconds=1):%Y-%m}"
    lines = [
        "Explore what the demo built (the keys are shown once):",
        f"  export ATTRIBUTION_DATABASE_URL={run.database_url}",
    ]
    if price_list is not None and price_list.is_file():
        lines.append(f"  export ATTRIBUTION_API__CONSOLE_PRICE_LIST={price_list.resolve()}")
    lines += [
        "  attribution serve            # then open http://127.0.0.1:8000/ and sign in with a key:",
        f"    admin, every page:   {run.keys.get('admin', '')}",
        f"    {EXPLORE_TENANT} only:      {run.keys.get(f'tenant:{EXPLORE_TENANT}', '')}",
        f"  attribution report statement --period {period} --format html --out statement.html",
        "  attribution period list",
    ]
    return lines
