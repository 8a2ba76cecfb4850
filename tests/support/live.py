"""The live service for ``tests/e2e/test_live.py``: the simulator, Prometheus, the scheduler and the API
as processes on loopback ports and a fresh Postgres database, and what the test samples from them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.localprom import LocalPrometheus, binaries, free_port, free_port_run
from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.scheduler.alerts import LagAlert
from attribution.sim.scenarios import scenario
from attribution.store.apikeys import create_key
from attribution.store.collection_state import CollectorWatermark, SourceCoverage
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import AttributedCost, ClusterCost, PoolCost, TenantUsage
from attribution.timeutil import floor_to
from tests.support.postgres import fresh_database
from tests.support.services import missing_service

ROOT = Path(__file__).resolve().parents[2]
STEP = 10
GRAIN = 60
SIGNALS = ("gpu", "kv", "gateway")
OUTAGE_SECONDS = 22
SCHEDULER_DOWN_SECONDS = 6


def live_settings(url: str, prom_url: str, metrics_port: int) -> Settings:
    base = demo_settings(scenario("demo", seed=0), url, prom_url)
    return base.model_copy(
        update={
            "interval_seconds": STEP,
            "line_grain_seconds": GRAIN,  # minute lines: a window the API widens to lines can end in the run
            "collection": base.collection.model_copy(
                update={
                    "safety_lag_seconds": 5,
                    "initial_lookback_seconds": 0,
                    "counter_baseline_lookback_seconds": 300,
                    "retry": base.collection.retry.model_copy(
                        update={"attempts": 2, "initial_delay_seconds": 0.2, "max_delay_seconds": 0.2}
                    ),
                }
            ),
            "scheduler": base.scheduler.model_copy(
                update={
                    "gpu": base.scheduler.gpu.model_copy(update={"every_seconds": 3}),
                    "kv": base.scheduler.kv.model_copy(update={"every_seconds": 3}),
                    "gateway": base.scheduler.gateway.model_copy(update={"every_seconds": 3}),
                    "attribution": base.scheduler.attribution.model_copy(update={"every_seconds": 15}),
                    "metrics_port": metrics_port,
                }
            ),
        }
    )


def environment(settings: Settings, tmp: Path) -> dict[str, str]:
    """The settings as ``ATTRIBUTION_*`` variables, as a deployment sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    (tmp / "attribution.toml").write_text("# everything is in the environment\n")
    env["ATTRIBUTION_CONFIG"] = str(tmp / "attribution.toml")
    env["ATTRIBUTION_LOG_FORMAT"] = "json"
    env["PYTHONPATH"] = str(ROOT)
    for key, value in json.loads(settings.model_dump_json(exclude_defaults=True)).items():
        env[f"ATTRIBUTION_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "attribution.cli", *args]


def wait_for(what: str, check: Callable[[], bool], seconds: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def lag_samples(metrics_url: str) -> dict[str, float] | None:
    """``collector@source`` -> lag from the scheduler's /metrics; None while it does not answer."""
    try:
        body = requests.get(metrics_url, timeout=5).text
    except requests.RequestException:
        return None
    out = {}
    for line in body.splitlines():
        if line.startswith("attribution_collector_lag_seconds{"):
            labels, value = line[len("attribution_collector_lag_seconds{") :].split("} ")
            parts = dict(p.split("=", 1) for p in labels.split(","))
            out[f"{parts['collector'].strip(chr(34))}@{parts['source'].strip(chr(34))}"] = float(value)
    return out


def runs_counted(metrics_url: str) -> dict[str, float]:
    body = requests.get(metrics_url, timeout=5).text
    out: dict[str, float] = defaultdict(float)
    for line in body.splitlines():
        if line.startswith("attribution_collector_runs_total{"):
            labels, value = line[len("attribution_collector_runs_total{") :].split("} ")
            parts = dict(p.split("=", 1) for p in labels.split(","))
            out[f"{parts['collector'].strip(chr(34))}@{parts['source'].strip(chr(34))}"] += float(value)
    return out


@dataclass
class Timeline:
    """What was sampled: (seconds since start, event or lag per job)."""

    began: float = field(default_factory=time.monotonic)
    lags: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.began

    def event(self, what: str) -> None:
        self.events.append((self.now(), what))

    def render(self) -> str:
        rows = [(t, "event", what) for t, what in self.events]
        rows += [
            (t, "lag", " ".join(f"{k}={v:.0f}s" for k, v in sorted(lag.items()))) for t, lag in self.lags
        ]
        return "\n".join(f"{t:6.1f}s  {kind:5}  {text}" for t, kind, text in sorted(rows))


def alert_fired(timeline: Timeline, alert: LagAlert) -> list[tuple[float, str, float]]:
    """When the alert would have fired: a job's lag above the threshold for ``for_seconds`` running."""
    fired, above_since = [], {}
    for t, lags in timeline.lags:
        for job, lag in lags.items():
            if lag > alert.threshold_seconds:
                since = above_since.setdefault(job, t)
                if t - since >= alert.for_seconds:
                    fired.append((t, job, lag))
            else:
                above_since.pop(job, None)
    return fired


def check_nothing_past_the_watermark(factory: sessionmaker[Session], followed: int) -> datetime | None:
    """Lines first, watermarks after (they only move forward): every stored interval must end at or before
    the earliest collector watermark. Returns that watermark."""
    with factory() as session:
        ends = []
        for model in (ClusterCost, PoolCost):
            ends.append(session.scalar(select(func.max(model.interval_start))))
        lines = session.execute(
            select(AttributedCost.interval_start, AttributedCost.covered_seconds)
            .order_by(AttributedCost.interval_start.desc())
            .limit(1)
        ).first()
    with factory() as session:
        marks = session.scalars(
            select(CollectorWatermark).where(CollectorWatermark.collector != "attribution")
        )
        found = [m.watermark for m in marks]
    if len(found) < followed:
        assert all(e is None for e in ends) and lines is None, "attributed before every collector ran"
        return None
    low = min(found)
    for end in ends:
        assert end is None or end + timedelta(seconds=STEP) <= low, (end, low)
    if lines is not None:
        assert lines[1] is not None and lines[0] + timedelta(seconds=lines[1]) <= low, (lines, low)
    return low


@dataclass
class Service:
    tmp: Path
    env: dict[str, str]
    factory: sessionmaker[Session]
    settings: Settings
    prom: LocalPrometheus
    api_url: str
    key: dict[str, str]
    metrics_url: str
    scheduler: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start_scheduler(self) -> None:
        log = self.tmp / f"scheduler-{len(self.logs)}.log"
        self.logs.append(log)
        self.scheduler = subprocess.Popen(
            cli("scheduler"), cwd=self.tmp, env=self.env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
        )

    def stop_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGTERM)
        try:
            self.scheduler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.scheduler.kill()
            self.scheduler.wait()
        self.scheduler = None

    def api(self, path: str, **params: str) -> Any:
        return requests.get(f"{self.api_url}{path}", params=params, headers=self.key, timeout=30)


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def service(pg_server: str, tmp_path: Path) -> Iterator[Service]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - only where make test's install step did not run
        missing_service("Prometheus", f"Prometheus is not installed ({exc}); `make test` installs it")
    base = free_port_run(40)
    prom_config = tmp_path / "scrape.yml"
    sim = subprocess.Popen(
        cli(
            "sim", "serve", "--port-base", str(base), "--duration", "900", "--warmup-seconds", "120",
            "--prometheus-config", str(prom_config), "--scrape-interval", "2s",
        ),
        cwd=tmp_path, stdout=(tmp_path / "sim.log").open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    api: subprocess.Popen[bytes] | None = None
    svc: Service | None = None
    try:
        wait_for("the simulator's scrape config", prom_config.exists, 60)
        wait_for("the simulator's targets", lambda: "serving" in (tmp_path / "sim.log").read_text(), 60)
        with fresh_database(pg_server) as url:
            upgrade(url)
            engine = make_engine(url)
            factory = make_sessionmaker(engine)
            prom = LocalPrometheus(tmp_path / "tsdb", config_text=prom_config.read_text())
            prom.start()
            metrics_port, api_port = free_port(), free_port()
            settings = live_settings(url, prom.url, metrics_port)
            env = environment(settings, tmp_path)
            with unit_of_work(factory) as session:
                token = create_key(session, ["admin"], "live").token
            api = subprocess.Popen(
                cli("serve", "--port", str(api_port)), cwd=tmp_path, env=env,
                stdout=subprocess.DEVNULL, stderr=(tmp_path / "api.log").open("wb"),
            )  # fmt: skip
            svc = Service(
                tmp_path, env, factory, settings, prom, f"http://127.0.0.1:{api_port}",
                {"Authorization": f"Bearer {token}"}, f"http://127.0.0.1:{metrics_port}/metrics",
            )  # fmt: skip
            wait_for("the API", lambda: _answers(f"http://127.0.0.1:{api_port}/healthz"), 60)
            yield svc
            terminate(svc.scheduler)
            terminate(api)
            prom.stop()
            engine.dispose()
    finally:
        if svc is not None:
            terminate(svc.scheduler)
            svc.prom.stop()
        terminate(api)
        terminate(sim)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def attribution_mark(svc: Service) -> datetime | None:
    with svc.factory() as session:
        mark = session.get(CollectorWatermark, ("attribution", "*", "default"))
        return None if mark is None or mark.last_success_at is None else mark.watermark


def run_entries(log: Path) -> list[dict[str, Any]]:
    entries = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return [e for e in entries if e.get("event") == "run"]


def run_lines(log: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in run_entries(log):
        out[f"{e['collector']}@{e['source']}"].append(e)
    return out


def intervals_within(down_at: datetime, up_at: datetime) -> list[datetime]:
    """The intervals wholly inside the outage: Prometheus was not running, so it has no sample there."""
    t = floor_to(down_at, STEP) + timedelta(seconds=STEP)
    out = []
    while t + timedelta(seconds=STEP) <= up_at:
        out.append(t)
        t += timedelta(seconds=STEP)
    return out


def check_spread(session: Session, silent: list[datetime]) -> None:
    """Every tenant's KV token-seconds that existed before the outage are the same in each silent interval
    and the first one after the gap (spread evenly, not booked at once after it), and the lines holding
    them are estimated. (A series born during the outage counts from zero where it first appears.)"""
    after = silent[-1] + timedelta(seconds=STEP)
    while session.get(SourceCoverage, ("gateway", "prometheus", after, DEFAULT_CLUSTER)).status == "missing":
        after += timedelta(seconds=STEP)
    before = silent[0] - timedelta(seconds=60)
    rows = session.scalars(
        select(TenantUsage).where(TenantUsage.interval_start >= before, TenantUsage.interval_start <= after)
    ).all()
    by_key: dict[tuple[str, str, str], dict[datetime, float]] = defaultdict(dict)
    for r in rows:
        by_key[(r.pool, r.tenant, r.tier)][r.interval_start] = r.kv_token_seconds
    spread = []
    for key, values in by_key.items():
        existed = any(t < silent[0] - timedelta(seconds=2 * STEP) for t in values)
        if existed and values.get(after, 0.0) > 0:
            shares = [values.get(t, 0.0) for t in silent]
            assert all(s == pytest.approx(values[after], rel=1e-9) for s in shares), (key, values)
            spread.append(key)
    assert spread, "no gateway usage across the outage"
    for pool, tenant, tier in spread:
        line = session.get(AttributedCost, (floor_to(silent[0], GRAIN), pool, tenant, tier, DEFAULT_CLUSTER))
        assert line is not None and line.estimated, (pool, tenant, tier)
