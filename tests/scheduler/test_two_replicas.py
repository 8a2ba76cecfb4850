"""Two scheduler replicas and the API, three real processes, one Postgres, a simulated day: each window
is collected exactly once, the API answers throughout, and every result equals a single-process run's.

Both replicas tick every second, half a second out of phase, and take at most two chunks a run, so they
share the backlog chunk by chunk; the watermark row lock (``FOR UPDATE SKIP LOCKED``) makes one of them
skip whenever the other holds it. Meanwhile the API (``attribution serve``) is asked for the chargeback
of the simulated window again and again and must answer every time. Then: the chunk log must tile the
window with no overlap, both replicas must have done part of it, the stored rows and attributed lines
must be those of one backfill and one attribution in a single process, and once the rest of the month
is attributed and the period closed (through the API on one side, in-process on the other), the two
statements must be identical, content hash included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import JobConfig, SchedulerConfig, Settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.localprom import LocalPrometheus, create_blocks, free_port
from attribution.sim import demo_cluster, generate_history
from attribution.store.apikeys import create_key
from attribution.store.collection_state import CollectionLog, CollectorWatermark
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import AttributedCost, AttributionRun, ClusterCost, PoolCost
from attribution.timeutil import iso, period_window
from tests.support.postgres import fresh_database
from tests.support.settings_env import settings_environ
from tests.support.simulated import START, Simulated, collection_settings, snapshot

LAG = timedelta(seconds=60)
#: A whole simulated day at one-minute scrapes, collected in hour chunks, two chunks a run.
END = START + timedelta(days=1)
CHUNK_INTERVALS = 60
ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-11"


@pytest.fixture(scope="module")
def simulated_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulated, LocalPrometheus]]:
    work = tmp_path_factory.mktemp("day")
    spec = demo_cluster(seed=7, scrape_interval_seconds=60)
    history = generate_history(spec, START, END, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    history.openmetrics_path.unlink()
    with LocalPrometheus(work / "tsdb") as prom:
        yield Simulated(spec, history, work), prom


def attributed(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every attributed line, pool cost and cluster cost, in key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with factory() as session:
        for model in (AttributedCost, PoolCost, ClusterCost):
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [
                tuple(r) for r in session.execute(select(model.__table__).order_by(*keys))
            ]
    return out


def start_api(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``attribution serve`` in its own process, configured the way a deployment is: by environment."""
    env = settings_environ(settings)
    env["ATTRIBUTION_LOG_LEVEL"] = "WARNING"
    return subprocess.Popen(
        [sys.executable, "-m", "attribution.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_ready(url: str, api: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and api.poll() is None:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("the API did not become ready")


def poll_while_running(
    replicas: list[subprocess.Popen[bytes]], api_url: str, window: dict[str, str], key: dict[str, str]
) -> Counter[int]:
    """Ask the API for the window's chargeback (and its readiness) until both replicas have exited."""
    statuses: Counter[int] = Counter()
    while any(r.poll() is None for r in replicas):
        answer = requests.get(f"{api_url}/v1/chargeback", params=window, headers=key, timeout=10)
        statuses[answer.status_code] += 1
        statuses[requests.get(f"{api_url}/readyz", timeout=10).status_code] += 1
        time.sleep(0.1)
    for replica in replicas:
        out, _ = replica.communicate(timeout=120)
        assert replica.returncode == 0, out.decode()[-3000:]
    return statuses


def assert_each_window_collected_once(factory: sessionmaker[Session]) -> None:
    """The chunk log tiles [START, END) per collector with no overlap; both replicas took part."""
    with factory() as session:
        log = session.scalars(select(CollectionLog).order_by(CollectionLog.window_start)).all()
        marks = {(w.collector, w.source): w.watermark for w in session.scalars(select(CollectorWatermark))}
        runs = session.scalars(select(AttributionRun)).all()
    for collector in ("gpu", "kv", "gateway"):
        windows = [(r.window_start, r.window_end) for r in log if r.collector == collector]
        assert windows[0][0] == START and windows[-1][1] == END
        assert all(a[1] == b[0] for a, b in pairwise(windows)), f"{collector}: a gap or a window twice"
    chunks_by_replica = Counter(r.replica for r in log)
    assert len(chunks_by_replica) == 2, chunks_by_replica  # both did part of the work
    assert set(marks.values()) == {END}
    assert runs and max(r.window_end for r in runs) == END


def test_two_replicas_and_the_api_match_a_single_process(
    simulated_day: tuple[Simulated, LocalPrometheus], pg_server: str, tmp_path: Path
) -> None:
    simulated, sim_prometheus = simulated_day
    with fresh_database(pg_server) as url, fresh_database(pg_server) as reference_url:
        upgrade(url)
        upgrade(reference_url)
        every = JobConfig(every_seconds=1)
        settings = collection_settings(
            simulated, url, sim_prometheus.url, max_chunks_per_run=2, chunk_intervals=CHUNK_INTERVALS
        )
        settings = settings.model_copy(
            update={
                "scheduler": SchedulerConfig(
                    gpu=every, kv=every, gateway=every, attribution=every, metrics_port=0
                )
            }
        )
        config = tmp_path / "settings.json"
        config.write_text(settings.model_dump_json())
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        with unit_of_work(factory) as session:
            key = {"Authorization": f"Bearer {create_key(session, ['admin'], 'two-replicas').token}"}
        api_url = f"http://127.0.0.1:{free_port()}"
        api = start_api(settings, int(api_url.rsplit(":", 1)[1]), tmp_path / "api.log")
        try:
            wait_ready(api_url, api)
            env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
            now = (END + LAG).isoformat()
            replicas = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.scheduler.replica", str(config), now, delay],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for delay in ("0", "0.5")
            ]
            window = {"start": iso(START), "end": iso(END)}
            statuses = poll_while_running(replicas, api_url, window, key)
            assert set(statuses) == {200} and statuses[200] >= 10, statuses
            time.sleep(settings.api.results_fresh_seconds)  # the last run is seen once the bound passed
            final = requests.get(f"{api_url}/v1/chargeback", params=window, headers=key, timeout=10)
            assert_each_window_collected_once(factory)

            # the single-process run: one backfill, one attribution
            reference_engine = make_engine(reference_url)
            reference = make_sessionmaker(reference_engine)
            collect_window(PromClient(sim_prometheus.url), settings, reference, START, END)
            run_attribution(settings, reference, START, END)
            assert snapshot(factory) == snapshot(reference)
            assert attributed(factory) == attributed(reference)
            reference_api = TestClient(create_app(settings, reference), raise_server_exceptions=False)
            with unit_of_work(reference) as session:
                reference_api.headers.update(
                    {"Authorization": f"Bearer {create_key(session, ['admin'], 'reference').token}"}
                )
            assert final.json() == reference_api.get("/v1/chargeback", params=window).json()

            # the rest of the month collected (Prometheus has nothing there: missing) and attributed alike,
            # then the period closed: through the API, in-process. Nothing is attributed before it is
            # collected, so without the backfill the month could not close.
            period_start, period_end = period_window(PERIOD)
            for target in (factory, reference):
                client = PromClient(sim_prometheus.url)
                collect_window(client, settings, target, period_start, START)
                collect_window(client, settings, target, END, period_end)
                run_attribution(settings, target, period_start, START)
                run_attribution(settings, target, END, period_end)
            closed = requests.post(
                f"{api_url}/v1/periods/{PERIOD}/close", headers=key | {"Idempotency-Key": "k1"}, timeout=60
            )
            assert closed.status_code == 200, closed.text
            with unit_of_work(reference) as session:
                close_period(session, PERIOD, settings.interval_seconds, "k1")
            ours = requests.get(f"{api_url}/v1/periods/{PERIOD}/statement", headers=key, timeout=30).json()
            theirs = reference_api.get(f"/v1/periods/{PERIOD}/statement").json()
            assert ours["status"] == "closed" and ours["lines"] and ours["content_hash"]
            assert ours.pop("closed_at") and theirs.pop("closed_at")  # when each was closed differs
            assert ours == theirs  # every line, every cent, the content hash
            reference_engine.dispose()
        finally:
            api.terminate()
            api.wait(timeout=30)
            engine.dispose()
