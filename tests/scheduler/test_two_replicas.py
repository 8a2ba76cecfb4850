"""Two scheduler replicas, two real processes, one Postgres: each window is collected exactly once.

Both tick every second, half a second out of phase, and take at most two chunks a run, so they share the
backlog chunk by chunk; the watermark row lock (``FOR UPDATE SKIP LOCKED``) makes one of them skip
whenever the other holds it. The chunk log must tile the window with no overlap, both replicas must have
done part of it, and the stored rows must be those of a single backfill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import JobConfig, SchedulerConfig
from attribution.localprom import LocalPrometheus
from attribution.store.collection_state import CollectionLog, CollectorWatermark
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributionRun
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot

LAG = timedelta(seconds=60)
ROOT = Path(__file__).resolve().parents[2]


def test_two_replicas_collect_each_window_once(
    simulated: Simulated, sim_prometheus: LocalPrometheus, pg_server: str, tmp_path: Path
) -> None:
    with fresh_database(pg_server) as url, fresh_database(pg_server) as reference_url:
        upgrade(url)
        upgrade(reference_url)
        every = JobConfig(every_seconds=1)
        settings = collection_settings(simulated, url, sim_prometheus.url, max_chunks_per_run=2)
        settings = settings.model_copy(
            update={
                "scheduler": SchedulerConfig(
                    gpu=every, kv=every, gateway=every, attribution=every, metrics_port=0
                )
            }
        )
        config = tmp_path / "settings.json"
        config.write_text(settings.model_dump_json())
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
        for replica in replicas:
            out, _ = replica.communicate(timeout=120)
            assert replica.returncode == 0, out.decode()[-3000:]

        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        with factory() as session:
            log = session.scalars(select(CollectionLog).order_by(CollectionLog.window_start)).all()
            marks = {
                (w.collector, w.source): w.watermark for w in session.scalars(select(CollectorWatermark))
            }
            attributed = session.scalars(select(AttributionRun)).all()
        for collector in ("gpu", "kv", "gateway"):
            windows = [(r.window_start, r.window_end) for r in log if r.collector == collector]
            assert windows[0][0] == START and windows[-1][1] == END
            assert all(a[1] == b[0] for a, b in pairwise(windows)), f"{collector}: a gap or a window twice"
        chunks_by_replica = Counter(r.replica for r in log)
        assert len(chunks_by_replica) == 2, chunks_by_replica  # both did part of the work
        assert set(marks.values()) == {END}
        assert attributed and max(r.window_end for r in attributed) == END

        reference_engine = make_engine(reference_url)
        reference = make_sessionmaker(reference_engine)
        collect_window(PromClient(sim_prometheus.url), settings, reference, START, END)
        assert snapshot(factory) == snapshot(reference)
        engine.dispose()
        reference_engine.dispose()
