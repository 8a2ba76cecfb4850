"""The scale scenario end to end: simulate the fleet, backfill Prometheus, collect into Postgres, fill the
month, attribute it, serve its chargeback to 50 clients; figures for each stage against a raw ceiling.

Run: .venv/bin/python bench/bench_scale.py [--quick] [--sim-hours 2] [--gpus 1024] [--tenants 1000]
     [--stage-seconds 1200] [--database-url postgresql://...]   (make bench / make bench-quick)
Prints figures as each stage ends and writes bench/results/scale.json (scale-quick.json with --quick),
rewritten after every stage with ``"complete": false`` until the last. A benchmark, not a test.

The full scenario is 1,024 GPUs, 1,000 tenants, 30 days at 60 s intervals. Simulating and backfilling a
whole month takes hours on a 2-core machine (docs/simulator.md: ~1.2 h of generation, ~4 h of promtool),
so ``--sim-hours`` are simulated (2 by default: one promtool block; 24 took ~50 min of simulate, promtool
and collect at full size and measured nothing the month's copies do not), collected for real, and the
month is filled by copying the collected rows forward in Postgres, as bench_attribute.py does: the JSON
says ``"month_filled_by_replication": true`` with the simulated span.

Every stage has a budget (``--stage-seconds``): a stage past it is stopped (its process group killed, its
queries ended) and written as ``"did_not_finish": true`` with the last partial figures it printed (the
attribute stage: hours attributed, their seconds and peak RSS, from which the summary extrapolates the
month). A stage the next ones need (simulate, ingest, collect, replicate) ends the run there.

Every stage runs in its own process (scale_stages.py) and reports its own peak RSS. Ratios measured in
the same run: collection against its ceiling, the slower of the same queries fetched unparsed from the
same Prometheus (fetch-only, right after the collection) and a raw binary COPY of the same rows (issue 14
item 4; until session 7 only against the raw COPY), as the median over ``--collect-trials`` collections
of the span, each into a fresh database with its own replay (one until session 18); attribution against
one raw GROUP BY scan of the month's input rows; the API's chargeback against computing it from
Prometheus on demand (collect + attribute + sum of the simulated span into an empty database, scaled
linearly to the month; the collect part is the collect stage's own time, the attribution and sum are
timed on a copy of what it collected).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_attribute import MONTH_START  # noqa: E402
from collect_figures import collect_ceiling  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402
from stagerun import run_stage  # noqa: E402

from attribution.store.session import make_engine  # noqa: E402

STAGES = ROOT / "bench" / "scale_stages.py"
FULL = {"gpus": 1024, "tenants": 1000, "sim_hours": 2.0, "requests": 2000, "stage_seconds": 1200.0,
        "collect_trials": 3}  # fmt: skip
QUICK = {"gpus": 64, "tenants": 50, "sim_hours": 2.0, "requests": 500, "stage_seconds": 300.0,
         "collect_trials": 5}  # fmt: skip


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


def stage(name: str, args: dict[str, Any], budget: float | None) -> dict[str, Any]:
    """Run one stage in its own process, at most ``budget`` seconds (then ``did_not_finish``)."""
    return run_stage(STAGES, name, args, budget, ROOT)


@contextmanager
def databases(url: str | None, names: list[str]) -> Iterator[tuple[dict[str, str], str]]:
    """One fresh database per name on ``url`` or on a throwaway cluster (fsync off), and the server."""
    from tests.support.postgres import fresh_database, throwaway_cluster

    with ExitStack() as stack:
        server = url or stack.enter_context(throwaway_cluster())
        yield {n: stack.enter_context(fresh_database(server)) for n in names}, server


@contextmanager
def copied_database(source: str, suffix: str = "_copy") -> Iterator[str]:
    """A copy of the database at ``source`` (``CREATE DATABASE ... TEMPLATE``) named with ``suffix``,
    dropped afterwards."""
    src = make_url(source)
    name = f"{src.database}{suffix}"
    admin = src.set(database="postgres").render_as_string(hide_password=False)
    with make_engine(admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{src.database}"'))
    try:
        yield src.set(database=name).render_as_string(hide_password=False)
    finally:
        with make_engine(admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def stop_backends(url: str) -> None:
    """End the queries a stage stopped at its budget left running on its database."""
    from tests.support.postgres import terminate_backends

    terminate_backends(url, str(make_url(url).database))


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
    parser.add_argument(
        "--collect-trials",
        type=int,
        help="collections of the span (each into a fresh database, with its own fetch-only replay); the "
        "ceiling's fraction is their median (default 3, 5 with --quick: one bench-quick collection is "
        "0.27 s and varies by some 10%% from run to run)",
    )
    parser.add_argument(
        "--stage-seconds",
        type=float,
        help="budget of each stage: past it the stage is stopped and reported as not finished with its "
        "partial figures (default 1200 s, 300 s with --quick)",
    )
    args = parser.parse_args()
    if args.collect_trials is not None and args.collect_trials < 1:
        parser.error("--collect-trials must be 1 or more")
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
    budget = args.stage_seconds

    def step(name: str, kind: str, stage_args: dict[str, Any]) -> dict[str, Any]:
        figures = run.add(name, stage(kind, stage_args, budget))
        if figures.get("did_not_finish") and "url" in stage_args:
            stop_backends(stage_args["url"])
        return figures

    sim = step("simulate", "simulate", {**span, "out": str(work / "om"), "workers": args.workers})
    if sim.get("did_not_finish"):
        return
    tsdb = str(work / "tsdb")
    if step("ingest", "ingest", {"files": sim["files"], "tsdb": tsdb, "samples": sim["samples"]}).get(
        "did_not_finish"
    ):
        return
    names = ["main", "one_hour", "raw_copy"]
    with databases(args.database_url, names) as (db, server):
        step("collect_1h", "collect", {**base, "hours": 1, "url": db["one_hour"], "tsdb": tsdb})
        collected = step("collect", "collect", {**span, "url": db["main"], "tsdb": tsdb})
        if collected.get("did_not_finish"):
            return
        from tests.support.postgres import fresh_database

        for trial in range(2, args.collect_trials + 1):  # the same collection again: the median is the figure
            with fresh_database(server) as again:
                if step(f"collect_trial_{trial}", "collect", {**span, "url": again, "tsdb": tsdb}).get(
                    "did_not_finish"
                ):
                    break  # counted as a fraction of 0 (collect_figures); the next would cost its budget too
        step("raw_copy", "raw_copy", {"source": db["main"], "target": db["raw_copy"]})
        with copied_database(db["main"]) as span_only:
            od = {**span, "url": span_only, "collect_seconds": collected["seconds"]}
            step("on_demand", "on_demand", od)
        month = {**span, "url": db["main"], "month_days": args.month_days}
        if step("replicate", "replicate", month).get("did_not_finish"):
            return
        step("raw_group_by", "group_by", month)
        step("attribute", "attribute", {**month, "chunk_hours": args.attribute_chunk_hours})
        api = {"url": db["main"], "period": f"{MONTH_START:%Y-%m}", "clients": args.clients}
        api |= {"requests": args.requests, "max_seconds": args.max_seconds}
        step("api", "api", api)
        with make_engine(db["main"]).connect() as conn:
            run.out["machine"]["postgres"] = conn.execute(text("SHOW server_version")).scalar()


def _ratio(a: float | None, b: float | None, digits: int = 1) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def attribute_figures(st: dict[str, Any]) -> dict[str, Any]:
    """The month's attribution: its time, or (stopped at its budget) the hours done in the budget and
    the month's time extrapolated linearly from them."""
    att = st.get("attribute", {})
    if not att.get("did_not_finish"):
        return {"attribute_month_seconds": att.get("seconds")}
    part = att.get("partial") or {}
    done = part.get("hours_done") or 0
    month = round(part["seconds"] * part["hours"] / done) if done else None
    return {
        "attribute_month_seconds": None,
        "attribute_did_not_finish_in_seconds": att["budget_seconds"],
        "attribute_hours_done_in_budget": done,
        "attribute_month_seconds_extrapolated": month,
    }


def _fetch_only_rate(st: dict[str, Any]) -> int | None:
    collect = st.get("collect", {})
    if collect.get("did_not_finish") or not collect.get("fetch_only_seconds"):
        return None
    return round(collect["rows"] / collect["fetch_only_seconds"])


def _wrk_summary(figures: dict[str, Any] | None) -> dict[str, Any]:
    """The warm month under wrk (issue 14's p99 and throughput against the constant body), if measured."""
    if not figures:
        return {"api_wrk": "not measured (wrk missing: scripts/ensure-wrk.sh)"}
    month = figures["month"]
    return {
        "api_wrk_connections": figures["connections"],
        "api_wrk_month_requests_per_second": month["requests_per_second"],
        "api_wrk_month_p50_ms": month["p50_ms"],
        "api_wrk_month_p99_ms": month["p99_ms"],
        "api_wrk_constant_p99_ms": figures["constant"]["p99_ms"],
        "api_wrk_constant_asgi_p99_ms": figures["constant_asgi"]["p99_ms"],
        "api_wrk_month_over_constant": figures["month_over_constant"],
        "api_wrk_month_over_constant_asgi": figures["month_over_constant_asgi"],
    }


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The headline figures and ratios, from the stages' own; None where a stage did not finish."""
    st = out["stages"]
    month_hours = out["scenario"]["month_days"] * 24

    def fig(name: str, key: str) -> Any:
        figures = st.get(name, {})
        return None if figures.get("did_not_finish") else figures.get(key)

    input_rows = sum((fig("replicate", "input_rows") or {}).values()) or None
    od = fig("on_demand", "seconds")
    on_demand_month = od * month_hours / st["on_demand"]["hours"] if od else None
    warm, cold = fig("api", "warm") or {}, fig("api", "cold") or {}
    attribute = attribute_figures(st)
    att_s = attribute["attribute_month_seconds"]
    group_by = fig("raw_group_by", "seconds")
    return {
        "did_not_finish": [n for n, f in st.items() if f.get("did_not_finish")],
        "stage_seconds": {n: f.get("seconds", f.get("budget_seconds")) for n, f in st.items()},
        "simulate_samples_per_second": fig("simulate", "samples_per_second"),
        "promtool_seconds": fig("ingest", "seconds"),
        "promtool_samples_per_second": fig("ingest", "samples_per_second"),
        "collect_rows_per_second": fig("collect", "rows_per_second"),
        "raw_copy_rows_per_second": fig("raw_copy", "rows_per_second"),
        "fetch_only_rows_per_second": _fetch_only_rate(st),
        "collect_fraction_of_raw_copy": _ratio(
            fig("collect", "rows_per_second"), fig("raw_copy", "rows_per_second"), 3
        ),
        **(collect_ceiling(st) if fig("collect", "seconds") and fig("raw_copy", "seconds") else {}),
        "collector_peak_rss_mib_1h": fig("collect_1h", "peak_rss_mib"),
        "collector_peak_rss_mib_span": fig("collect", "peak_rss_mib"),
        "collector_rss_after_each_chunk_mib": fig("collect", "rss_after_each_chunk_mib"),
        "collector_rows_per_hour_min_max": fig("collect", "rows_per_hour_min_max"),
        **attribute,
        "attribute_input_rows": input_rows,
        "attribute_input_rows_per_second": round(input_rows / att_s) if input_rows and att_s else None,
        "raw_group_by_seconds": group_by,
        "ratio_attribute_to_raw_group_by": _ratio(att_s, group_by),
        "api_chargeback_month_p50_ms": warm.get("p50_ms"),
        "api_chargeback_month_p99_ms": warm.get("p99_ms"),
        "api_chargeback_month_cold_p50_ms": cold.get("p50_ms"),
        **_wrk_summary(fig("api", "wrk")),
        "on_demand_span_seconds": od,
        "on_demand_month_seconds_scaled_linearly": round(on_demand_month) if on_demand_month else None,
        "ratio_on_demand_month_to_api_p50": _ratio(
            on_demand_month * 1000 if on_demand_month else None, warm.get("p50_ms"), 0
        ),
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
    run.out["complete"] = not run.out["summary"]["did_not_finish"]
    run.out["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    run.out["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    run.save()
    print(json.dumps(run.out["summary"], indent=2))
    print(f"wrote {run.path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
