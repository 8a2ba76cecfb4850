"""Collection against its real ceiling (issue 14, item 4): our collector beside the two things it cannot beat.

Run: .venv/bin/python bench/collect_ceiling.py [--gpus 64] [--tenants 50] [--hours 2] [--tsdb DIR]
     [--repeat 2] [--profile out.prof] [--database-url postgresql://...]
Simulates the fleet and backfills a Prometheus TSDB (or reuses ``--tsdb`` from an earlier run, kept with
``--keep``), then measures, on the same window and the same Prometheus:

* ``collect``: ``collect_window`` (every plan, chunk by chunk, into a fresh migrated database): ours;
* ``fetch_only``: the very ``query_range`` calls ``collect`` made (recorded), sent again one at a time
  and with the source's ``max_concurrent_queries`` at once, each answer's body read and nothing parsed;
  the faster of the two is Prometheus' own speed (on a loaded 2-core machine more at once is not
  always faster);
* ``raw_copy``: the rows ``collect`` wrote, binary-COPYed into an empty migrated database, no conflict
  handling (only the COPYs are timed): Postgres' own speed.

The ceiling is the slower of the two; ``fraction_of_ceiling`` = ceiling seconds / collect seconds (the
same rows, so it is the ratio of the rates). Each figure is the best of ``--repeat`` runs, after one
untimed collection that warms Prometheus' page cache and records the calls. Writes
bench/results/collect-ceiling.json (``--out``). A benchmark, not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fleet  # noqa: E402
import scale_stages  # noqa: E402
from bench_attribute import MONTH_START  # noqa: E402
from fetch_replay import RecordingClient, fastest_fetch  # noqa: E402

from attribution.collectors.prom import PromClient  # noqa: E402
from attribution.collectors.run import collect_window  # noqa: E402
from attribution.localprom import LocalPrometheus  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402


@contextmanager
def databases(url: str | None, n: int) -> Iterator[list[str]]:
    from tests.support.postgres import fresh_database, throwaway_cluster

    with ExitStack() as stack:
        server = url or stack.enter_context(throwaway_cluster())
        yield [stack.enter_context(fresh_database(server)) for _ in range(n)]


def collect_once(
    args: dict[str, Any], url: str, prometheus: str, client: PromClient | None, profile: Path | None
) -> tuple[float, int]:
    """``collect_window`` into ``url``; without ``client`` it makes its own, as configured (the
    source's ``max_concurrent_queries``), as ``attribution collect`` does."""
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    start, end = fleet.window_of(args)
    settings = fleet.settings_of(args, url, prometheus)
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    result = collect_window(client, settings, factory, start, end)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    engine.dispose()
    return seconds, sum(result.rows_by_table.values())


def build_tsdb(args: dict[str, Any], work: Path) -> Path:
    sim = scale_stages.simulate({**args, "out": str(work / "om"), "workers": 2})
    tsdb = work / "tsdb"
    scale_stages.ingest({"files": sim["files"], "tsdb": str(tsdb), "samples": sim["samples"]})
    print(f"simulated and backfilled {sim['samples']:,} samples", flush=True)
    return tsdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--chunk-intervals", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tsdb", type=Path, help="reuse this TSDB (same --gpus, --tenants, --hours)")
    parser.add_argument("--keep", type=Path, help="keep the backfilled TSDB here for --tsdb")
    parser.add_argument("--profile", type=Path, help="cProfile the last timed collection into this file")
    parser.add_argument("--database-url", help="a Postgres server (fresh databases are created)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collect-ceiling.json")
    ns = parser.parse_args()
    args = {"gpus": ns.gpus, "tenants": ns.tenants, "hours": ns.hours, "start": MONTH_START.isoformat()}
    args["chunk_intervals"] = ns.chunk_intervals
    with tempfile.TemporaryDirectory(prefix="collect-ceiling-") as tmp:
        tsdb = ns.tsdb or build_tsdb(args, Path(tmp))
        if ns.keep and not ns.tsdb:
            shutil.copytree(tsdb, ns.keep, dirs_exist_ok=True)
        with LocalPrometheus(tsdb) as prom, databases(ns.database_url, ns.repeat + 2) as dbs:
            source = fleet.settings_of(args, dbs[0], prom.url).effective_sources()[0]
            concurrency = getattr(source, "max_concurrent_queries", 1)
            warm = RecordingClient(prom.url, max_concurrent=concurrency)
            _, rows = collect_once(args, dbs[0], prom.url, warm, None)
            fetch, received, by_concurrency = fastest_fetch(prom.url, warm.calls, concurrency, ns.repeat)
            collected = []
            for i in range(ns.repeat):
                profile = ns.profile if i == ns.repeat - 1 else None
                seconds, n = collect_once(args, dbs[1 + i], prom.url, None, profile)
                assert n == rows, f"collection wrote {n} rows, the first {rows}"
                collected.append(seconds)
            copy = scale_stages.raw_copy_rows({"source": dbs[1], "target": dbs[-1]})["seconds"]
    best = min(collected)
    ceiling = max(fetch, copy)
    out = {
        "scenario": {**args, "rows": rows, "queries": len(warm.calls), "concurrency": concurrency},
        "seconds": {"collect": round(best, 3), "fetch_only": round(fetch, 3), "raw_copy": round(copy, 3)},
        "collect_runs_seconds": [round(s, 3) for s in collected],
        "rows_per_second": {
            "collect": round(rows / best),
            "fetch_only": round(rows / fetch),
            "raw_copy": round(rows / copy),
        },
        "fetch_only_seconds_by_concurrency": by_concurrency,
        "bytes_fetched": received,
        "slower_ceiling": "fetch_only" if fetch >= copy else "raw_copy",
        "fraction_of_ceiling": round(ceiling / best, 3),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    print(json.dumps(out, indent=2))
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
