"""The attribute stage of bench-quick, timed per phase, on a database the stages already seeded.

Run: .venv/bin/python bench/attribute_phases.py --database-url postgresql://.../db [--profile]
     [--per-run [--statements]]

The database is one that ``bench/scale_stages.py`` simulate, ingest, collect and replicate filled (the
``--quick`` fleet: 64 GPUs, 50 tenants); it is reused, so before and after read the same rows. The
attribution outputs are emptied first, then the month is attributed in 30 runs of 24 h as the attribute
stage does, each call ``run_attribution`` makes timed by wrapping it. Prints a JSON of the total, the raw
``GROUP BY`` ceiling of the same rows (min of two before and one after), peak RSS, each phase's seconds
and an md5 of every column of each output table in key order (equal md5s: the money did not move).
``runs`` gives each 24-hour run's wall and CPU seconds; ``--per-run`` its phases too, and
``--statements`` its costliest SQL statements: whether a later run of the period costs more than the
first, and in what. ``--memory``: the peak RSS seen during each phase (where a day's memory goes);
``--gpus``/``--tenants`` for a database seeded at another size (the full fleet: 1024, 1000).
Destructive for that database's attribution outputs; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_attribute import MONTH_START, raw_group_by  # noqa: E402
from fleet import settings_of  # noqa: E402
from sqlalchemy import Engine, event, text  # noqa: E402

from attribution.ledger import attribute as job  # noqa: E402
from attribution.ledger import span  # noqa: E402
from attribution.ledger import window_reads as reads_module  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402

OUTPUTS = (
    "attributed_costs",
    "pool_costs",
    "cluster_costs",
    "daily_line_sums",
    "incidents",
    "attribution_runs",
    "periods",
    "correction_lines",
    "dirty_windows",
)
#: table -> its key, the order its md5 is taken in
KEYED = {
    "attributed_costs": "interval_start, pool, tenant, tier, cluster",
    "pool_costs": "interval_start, pool, cluster",
    "cluster_costs": "interval_start, cluster",
    "daily_line_sums": "day_start, pool, tenant, tier, cluster",
    "incidents": "pool, start_at, cluster",
}
#: where the job's phases are looked up by name (the reads of a window have their own module)
JOB_MODULES = (job, reads_module)
#: when a row was written, not what it says
UNCOMPARED = {"detected_at"}


class Memory:
    """Resident memory per phase: a thread samples the process's RSS every 10 ms and keeps, for each
    phase the main thread is in (the innermost timed call), the most it saw. Phases on other threads
    (the usage read beside the GPU reads) count toward the main thread's phase of the moment."""

    def __init__(self) -> None:
        self.phase: list[str] = ["outside"]
        self.peak_mib: dict[str, int] = {}
        self.page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def rss_mib(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page_kib // 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            phase, rss = self.phase[-1], self.rss_mib()
            if rss > self.peak_mib.get(phase, 0):
                self.peak_mib[phase] = rss

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return dict(sorted(self.peak_mib.items(), key=lambda kv: -kv[1]))


def timed(name: str, times: dict[str, float], memory: Memory | None = None) -> None:
    """Wrap ``name`` in the job's modules so its calls add to ``times[name]`` (none: older code lacks it).
    The reads of a window ahead run on a thread of their own: their phases overlap the main thread's."""
    for module in JOB_MODULES:
        _wrap(module, name, times, memory)


def _wrap(module: Any, name: str, times: dict[str, float], memory: Memory | None) -> None:
    call: Callable[..., Any] | None = getattr(module, name, None)
    if call is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        main_thread = threading.current_thread() is threading.main_thread()
        if memory and main_thread:
            memory.phase.append(name)
        try:
            return call(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0
            if memory and main_thread:
                memory.phase.pop()

    setattr(module, name, wrapper)


def timed_statements(engine: Engine, seconds: dict[str, float]) -> None:
    """Add each SQL statement's seconds to ``seconds``, keyed by its first 100 characters (whitespace
    folded): which statement of a run grows from run to run. COPY goes past SQLAlchemy, so not here."""

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, _cursor: Any, _statement: str, *_: Any) -> None:
        conn.info["statement_began"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        key = " ".join(statement.split())[:100]
        spent = time.perf_counter() - conn.info.pop("statement_began")
        seconds[key] = seconds.get(key, 0.0) + spent


def run_record(
    run: int, seconds: float, cpu_seconds: float, before: dict[str, float], after: dict[str, float]
) -> dict[str, Any]:
    """One run's seconds and what each phase took in it (the phases' totals after less before): a later
    run of a period that costs more than the first shows here, with the phase that grew. The process's
    CPU seconds beside the wall time: on a shared machine a run's wall time follows the load (every phase
    slower alike, the pure-Python ones too), its CPU time does not."""
    phases = {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}
    return {
        "run": run,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "phases_seconds": dict(sorted(phases.items(), key=lambda kv: -kv[1])),
    }


def costliest(seconds: dict[str, float], n: int = 8) -> dict[str, float]:
    """The ``n`` statements that took longest, with their seconds."""
    return {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])[:n]}


def md5s(url: str) -> dict[str, str]:
    out = {}
    with make_engine(url).connect() as conn:
        for table, key in KEYED.items():
            columns = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                    "ORDER BY ordinal_position"
                ),
                {"t": table},
            ).scalars()
            row = "||'|'||".join(f"coalesce({c}::text, '~')" for c in columns if c not in UNCOMPARED)
            query = f"SELECT count(*) || ':' || coalesce(md5(string_agg({row}, E'\\n' ORDER BY {key})), '') "
            out[table] = str(conn.execute(text(query + f"FROM {table}")).scalar())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk-hours", type=int, default=24)
    parser.add_argument("--profile", action="store_true", help="print the 40 most costly functions")
    parser.add_argument("--per-run", action="store_true", help="each run's phases, not only its seconds")
    parser.add_argument("--statements", action="store_true", help="with --per-run: each run's costliest SQL")
    parser.add_argument("--memory", action="store_true", help="the peak RSS seen during each phase")
    parser.add_argument("--gpus", type=int, default=64, help="the fleet the database was seeded with")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument(
        "--no-read-ahead", action="store_true", help="each window's reads in its own run (before session 10)"
    )
    parser.add_argument(
        "--reads-after-engine",
        action="store_true",
        help="the next window's reads begin after the engine whatever the window's size",
    )
    args = parser.parse_args()
    if args.reads_after_engine:
        job.EARLY_READS_MAX_USAGE_ROWS = 0
    url, start = args.database_url, MONTH_START
    end = start + timedelta(days=args.days)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(OUTPUTS)}"))
    times: dict[str, float] = {}
    memory = Memory() if args.memory else None
    for name in ("find_incidents", "period_scope", "line_rows", "_set_covered", "replace_window"):
        timed(name, times, memory)
    for name in ("replace_window_values", "refresh_rollups", "_pool_rows", "record_incidents"):
        timed(name, times, memory)
    for name in (
        "usage_columns",
        "gpu_counts",
        "gpu_count_columns",
        "kv_samples",
        "group_telemetry",
        "build_inputs",
    ):
        timed(name, times, memory)
    for name in ("attribute_columns", "intervals_with_status", "issue_corrections"):
        timed(name, times, memory)
    for name in ("ensure_period", "clear_beyond", "attributable_until", "dirty_windows", "clear_dirty"):
        timed(name, times, memory)
    for name in ("closed_until", "insert_all", "tune_for_scans", "replace_window_columns", "pool_columns"):
        timed(name, times, memory)
    for name in ("line_columns", "covered_seconds", "kv_sample_columns"):
        timed(name, times, memory)
    ceiling = min(raw_group_by(url, start, end)[0] for _ in range(2))
    settings = settings_of(
        {"gpus": args.gpus, "tenants": args.tenants, "chunk_intervals": 60}, url, "http://127.0.0.1:9"
    )
    factory = make_sessionmaker(engine)
    statements: dict[str, float] = {}
    if args.statements:
        timed_statements(engine, statements)
    profiler = cProfile.Profile() if args.profile else None
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    runs: list[dict[str, Any]] = []
    last = {"times": dict(times), "wall": time.perf_counter(), "cpu": time.process_time()}

    def after_each(summary: job.AttributionSummary) -> None:
        """One window committed: its seconds since the one before, and its phases."""
        assert summary.total_usd_micros == summary.cluster_cost_usd_micros
        wall, cpu = time.perf_counter(), time.process_time()
        runs.append(run_record(len(runs) + 1, wall - last["wall"], cpu - last["cpu"], last["times"], times))
        if statements:
            runs[-1]["statements_seconds"] = costliest(statements)
            statements.clear()
        last.update(times=dict(times), wall=wall, cpu=cpu)

    if profiler:
        profiler.enable()
    step = timedelta(hours=args.chunk_hours)
    if args.no_read_ahead:  # each window read by its own run, as before session 10
        for w_start, w_end in span.windows_of(start, end, step):
            after_each(job.run_attribution(settings, factory, w_start, w_end))
    else:
        span.attribute_span(settings, factory, start, end, step, after_each=after_each)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - began
    load_after = os.getloadavg()[0]
    ceiling = min(ceiling, raw_group_by(url, start, end)[0])
    result = {
        "attribute_seconds": round(seconds, 1),
        "raw_group_by_seconds": round(ceiling, 2),
        "ratio": round(seconds / ceiling, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
        "read_ahead": not args.no_read_ahead,
        "phases_seconds": {k: round(v, 2) for k, v in sorted(times.items(), key=lambda kv: -kv[1])},
        "runs": runs if args.per_run else {r["run"]: [r["seconds"], r["cpu_seconds"]] for r in runs},
        **({"peak_rss_mib_by_phase": memory.stop()} if memory else {}),
        "md5": md5s(url),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
