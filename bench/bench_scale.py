"""The scale scenario end to end: simulate the fleet, backfill Prometheus, collect into Postgres, fill the
month, attribute it, serve its chargeback to 50 clients; figures for each stage against a raw ceiling.

Run: .venv/bin/python bench/bench_scale.py [--quick] [--sim-hours 24] [--gpus 1024] [--tenants 1000]
     [--database-url postgresql://...]   (make bench / make bench-quick)
Prints figures as each stage ends and writes bench/results/scale.json (scale-quick.json with --quick),
rewritten after every stage with ``"complete": false`` until the last. A benchmark, not a test.

The full scenario is 1,024 GPUs, 1,000 tenants, 30 days at 60 s intervals. Simulating and backfilling a
whole month takes hours on a 2-core machine (docs/simulator.md: ~1.2 h of generation, ~4 h of promtool),
so ``--sim-hours`` are simulated (24 by default; 2 of a 64-GPU, 50-tenant fleet with --quick), collected
for real, and the month is filled by copying the collected rows forward in Postgres, as
bench_attribute.py does: the JSON says ``"month_filled_by_replication": true`` with the simulated span.

Every stage runs in its own process (scale_stages.py) and reports its own peak RSS. Ratios measured in the
same run: collection against its ceiling, the slower of the same queries fetched unparsed from the same
Prometheus (fetch-only, right after the collection) and a raw binary COPY of the same rows (issue 14
item 4; until session 7 only against the raw COPY); attribution against one raw GROUP BY scan
of the month's input rows; the API's chargeback against computing it from Prometheus on demand (collect +
attribute + sum of the simulated span into an empty database, timed, scaled linearly to the month).
Collector memory against the window: peak RSS collecting 1 h against the whole simulated span, both in
chunks of ``--chunk-intervals``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_attribute import MONTH_START, raw_group_by  # noqa: E402
from sqlalchemy import text  # noqa: E402

from attribution.store.session import make_engine  # noqa: E402

STAGES = ROOT / "bench" / "scale_stages.py"
FULL = {"gpus": 1024, "tenants": 1000, "sim_hours": 24.0, "requests": 2000}
QUICK = {"gpus": 64, "tenants": 50, "sim_hours": 2.0, "requests": 500}


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln), None)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kib = next((int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal:")), 0)
    prom = subprocess.run(["prometheus", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "prometheus": (prom.stdout or prom.stderr).splitlines()[0] if prom.returncode == 0 else None,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }


def stage(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one stage in its own process; its ``RESULT`` line, or an error with its output."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {name} ...", flush=True)
    done = subprocess.run(
        [sys.executable, str(STAGES), name, json.dumps(args, default=str)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    results = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not results:
        raise RuntimeError(f"stage {name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(results[-1].removeprefix("RESULT "))
    shown = {k: v for k, v in out.items() if k != "files"}
    print(f"  {json.dumps(shown, default=str)}", flush=True)
    return out


@contextmanager
def databases(url: str | None, names: list[str]) -> Iterator[tuple[dict[str, str], str]]:
    """One fresh database per name on ``url`` or on a throwaway cluster (fsync off), and the server."""
    from tests.support.postgres import fresh_database, throwaway_cluster

    with ExitStack() as stack:
        server = url or stack.enter_context(throwaway_cluster())
        yield {n: stack.enter_context(fresh_database(server)) for n in names}, server


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 GPUs, 50 tenants, 2 h simulated")
    parser.add_argument("--gpus", type=int)
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--sim-hours", type=float, help="simulated and collected span (whole hours)")
    parser.add_argument("--month-days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-intervals", type=int, default=60, help="collection chunk, in intervals")
    parser.add_argument("--attribute-chunk-hours", type=int, default=24)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, help="warm chargeback requests (bounded by --max-seconds)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="per load phase")
    parser.add_argument("--database-url", help="a Postgres server (fresh databases are created)")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


class Run:
    """The figures so far, rewritten to the results file after every stage."""

    def __init__(self, args: argparse.Namespace) -> None:
        name = "scale-quick.json" if args.quick else "scale.json"
        self.path = ROOT / "bench" / "results" / name
        self.out: dict[str, Any] = {
            "scenario": {
                "name": "fleet",
                "gpus": args.gpus,
                "tenants": args.tenants,
                "month_days": args.month_days,
                "interval_seconds": 60,
                "simulated_hours": args.sim_hours,
                "month_start": MONTH_START.isoformat(),
            },
            "month_filled_by_replication": args.sim_hours < args.month_days * 24,
            "quick": args.quick,
            "machine": machine(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "complete": False,
            "stages": {},
        }

    def add(self, name: str, figures: dict[str, Any]) -> dict[str, Any]:
        self.out["stages"][name] = {k: v for k, v in figures.items() if k != "files"}
        self.save()
        return figures

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.out, indent=2, default=str) + "\n")


def pipeline(args: argparse.Namespace, run: Run, work: Path) -> None:
    base = {
        "gpus": args.gpus,
        "tenants": args.tenants,
        "start": MONTH_START.isoformat(),
        "chunk_intervals": args.chunk_intervals,
    }
    span = {**base, "hours": args.sim_hours}
    sim = run.add("simulate", stage("simulate", {**span, "out": str(work / "om"), "workers": args.workers}))
    tsdb = str(work / "tsdb")
    run.add("ingest", stage("ingest", {"files": sim["files"], "tsdb": tsdb, "samples": sim["samples"]}))
    names = ["main", "one_hour", "raw_copy", "on_demand"]
    with databases(args.database_url, names) as (db, _):
        run.add("collect_1h", stage("collect", {**base, "hours": 1, "url": db["one_hour"], "tsdb": tsdb}))
        run.add("collect", stage("collect", {**span, "url": db["main"], "tsdb": tsdb}))
        run.add("raw_copy", stage("raw_copy", {"source": db["main"], "target": db["raw_copy"]}))
        run.add("on_demand", stage("on_demand", {**span, "url": db["on_demand"], "tsdb": tsdb}))
        month = {**span, "url": db["main"], "month_days": args.month_days}
        run.add("replicate", stage("replicate", month))
        end = MONTH_START + timedelta(days=args.month_days)
        group_by = min(raw_group_by(db["main"], MONTH_START, end)[0] for _ in range(2))
        run.add("raw_group_by", {"seconds": round(group_by, 2)})
        print(f"  raw GROUP BY of the month: {group_by:.2f} s", flush=True)
        run.add("attribute", stage("attribute", {**month, "chunk_hours": args.attribute_chunk_hours}))
        api = {"url": db["main"], "period": f"{MONTH_START:%Y-%m}", "clients": args.clients}
        api |= {"requests": args.requests, "max_seconds": args.max_seconds}
        run.add("api", stage("api", api))
        with make_engine(db["main"]).connect() as conn:
            run.out["machine"]["postgres"] = conn.execute(text("SHOW server_version")).scalar()


def _collect_ceiling(st: dict[str, Any]) -> dict[str, Any]:
    """Collection against issue 14 item 4's ceiling: the slower of Prometheus answering the same queries
    (fetch-only, measured right after the collection, same process and Prometheus) and Postgres taking
    the same rows (raw COPY). Both time the very rows and queries of the ``collect`` stage."""
    fetch, copy = st["collect"]["fetch_only_seconds"], st["raw_copy"]["seconds"]
    return {
        "collect_ceiling_rows_match": st["raw_copy"]["rows"] == st["collect"]["rows"],
        "collect_ceiling": "fetch_only" if fetch >= copy else "raw_copy",
        "collect_fraction_of_ceiling": round(max(fetch, copy) / st["collect"]["seconds"], 3),
    }


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The headline figures and ratios, from the stages' own."""
    st = out["stages"]
    month_hours = out["scenario"]["month_days"] * 24
    input_rows = sum(st["replicate"]["input_rows"].values())
    on_demand_month = st["on_demand"]["seconds"] * month_hours / st["on_demand"]["hours"]
    warm = st["api"]["warm"]
    return {
        "simulate_samples_per_second": st["simulate"]["samples_per_second"],
        "promtool_seconds": st["ingest"]["seconds"],
        "promtool_samples_per_second": st["ingest"]["samples_per_second"],
        "collect_rows_per_second": st["collect"]["rows_per_second"],
        "raw_copy_rows_per_second": st["raw_copy"]["rows_per_second"],
        "fetch_only_rows_per_second": round(st["collect"]["rows"] / st["collect"]["fetch_only_seconds"]),
        "collect_fraction_of_raw_copy": round(
            st["collect"]["rows_per_second"] / st["raw_copy"]["rows_per_second"], 3
        ),
        **_collect_ceiling(st),
        "collector_peak_rss_mib_1h": st["collect_1h"]["peak_rss_mib"],
        "collector_peak_rss_mib_span": st["collect"]["peak_rss_mib"],
        "collector_rss_after_each_chunk_mib": st["collect"].get("rss_after_each_chunk_mib"),
        "collector_rows_per_hour_min_max": st["collect"].get("rows_per_hour_min_max"),
        "attribute_month_seconds": st["attribute"]["seconds"],
        "attribute_input_rows": input_rows,
        "attribute_input_rows_per_second": round(input_rows / st["attribute"]["seconds"]),
        "raw_group_by_seconds": st["raw_group_by"]["seconds"],
        "ratio_attribute_to_raw_group_by": round(
            st["attribute"]["seconds"] / st["raw_group_by"]["seconds"], 1
        ),
        "api_chargeback_month_p50_ms": warm["p50_ms"],
        "api_chargeback_month_p99_ms": warm["p99_ms"],
        "api_chargeback_month_cold_p50_ms": st["api"]["cold"]["p50_ms"],
        "on_demand_span_seconds": st["on_demand"]["seconds"],
        "on_demand_month_seconds_scaled_linearly": round(on_demand_month),
        "ratio_on_demand_month_to_api_p50": round(on_demand_month * 1000 / warm["p50_ms"]),
        "peak_rss_mib": {
            name: {k: v for k, v in figures.items() if k.startswith("peak_rss") or k.endswith("rss_mib")}
            for name, figures in st.items()
            if any(k.endswith("rss_mib") for k in figures)
        },
    }


def main() -> None:
    args = options()
    run = Run(args)
    print(json.dumps(run.out["scenario"]), flush=True)
    if run.out["month_filled_by_replication"]:
        print(
            f"the month is filled by replicating the {args.sim_hours:g} simulated and collected hours "
            "in Postgres (month_filled_by_replication)",
            flush=True,
        )
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        pipeline(args, run, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        run.save()
    run.out["summary"] = summary(run.out)
    run.out["complete"] = True
    run.out["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    run.out["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    run.save()
    print(json.dumps(run.out["summary"], indent=2))
    print(f"wrote {run.path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
