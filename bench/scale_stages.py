"""The stages of bench/bench_scale.py, each run in its own process so that each reports its own peak RSS
(``RUSAGE_CHILDREN`` in the parent would give only the largest over all of them).

Run by bench_scale.py as ``python bench/scale_stages.py STAGE 'JSON arguments'``; the last line printed is
``RESULT {json}``. Every stage starts what it needs itself (a LocalPrometheus on the backfilled blocks);
the Postgres databases are made by the parent, which keeps the throwaway cluster up between stages.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_attribute import INPUT_TABLES, raw_group_by, replicate_span  # noqa: E402
from bench_collect import raw_copy  # noqa: E402
from bench_sim import _rss_mib, run_history  # noqa: E402
from fetch_replay import RecordingClient, fastest_fetch  # noqa: E402
from fleet import settings_of, spec_of, window_of  # noqa: E402
from prometheus_warmup import warm  # noqa: E402
from sqlalchemy import text  # noqa: E402

from attribution.collectors.run import collect_window  # noqa: E402
from attribution.ledger.attribute import AttributionSummary, run_attribution  # noqa: E402
from attribution.ledger.span import attribute_span  # noqa: E402
from attribution.localprom import LocalPrometheus, create_blocks  # noqa: E402
from attribution.reports.chargeback import build_chargeback  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402

#: The tables whose rows collect_window counts (its batches); copied raw for the COPY ceiling.
COPIED_TABLES = ("gpu_samples", "kv_samples", "tenant_usage")
COPY_BATCH_ROWS = 50_000


def simulate(args: dict[str, Any]) -> dict[str, Any]:
    spec = spec_of(args)
    start, end = window_of(args)
    result, seconds = run_history(spec, start, end, Path(args["out"]), workers=args["workers"])
    return {
        "gpus": sum(p.gpus for p in spec.pools) + sum(spec.unallocated_gpus.values()),
        "pools": len(spec.pools),
        "tenants": len({t.name for t in spec.tenants}),
        "scrape_interval_seconds": spec.scrape_interval_seconds,
        "hours": args["hours"],
        "workers": args["workers"],
        "samples": result.samples,
        "requests": result.requests,
        "seconds": round(seconds, 1),
        "samples_per_second": round(result.samples / seconds),
        "openmetrics_bytes": sum(p.stat().st_size for p in result.openmetrics_paths),
        "files": [str(p) for p in result.openmetrics_paths],
        "peak_rss_workers_mib": _rss_mib(resource.RUSAGE_CHILDREN),
    }


def ingest(args: dict[str, Any]) -> dict[str, Any]:
    """promtool on each file in turn (deleted once in blocks); children's peak is promtool's own."""
    started = time.perf_counter()
    for name in args["files"]:
        create_blocks(Path(name), Path(args["tsdb"]))
        Path(name).unlink()
    seconds = time.perf_counter() - started
    return {
        "files": len(args["files"]),
        "seconds": round(seconds, 1),
        "samples_per_second": round(args["samples"] / seconds),
        "peak_rss_promtool_mib": _rss_mib(resource.RUSAGE_CHILDREN),
    }


def _rss_now_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _rows_per_hour(url: str, start: datetime, end: datetime) -> list[int]:
    """Rows the collectors wrote per hour (not timed): the busiest hour sets the collector's peak."""
    union = " UNION ALL ".join(
        f"SELECT date_trunc('hour', interval_start) AS h FROM {t} WHERE interval_start >= :s "
        "AND interval_start < :e"
        for t in COPIED_TABLES
    )
    with make_engine(url).connect() as conn:
        found = conn.execute(text(f"SELECT h, count(*) FROM ({union}) AS u GROUP BY h ORDER BY h"),
                             {"s": start, "e": end})  # fmt: skip
        return [int(n) for _, n in found]


def collect(args: dict[str, Any]) -> dict[str, Any]:
    """collect_window over the window into a migrated database; Prometheus is a child, not counted.
    RSS is sampled after every chunk: flat means memory is bounded by a chunk, not by the window.

    Before it, the same reads by another process (bench/prometheus_warmup.py), so that Prometheus is as
    warm for the collection as for the replay after it. Then, on the same Prometheus, the fetch-only
    ceiling: the very queries the collection sent (recorded by its client, made as configured), sent
    again with nothing parsed (bench/fetch_replay.py)."""
    upgrade(args["url"])
    factory = make_sessionmaker(make_engine(args["url"]))
    start, end = window_of(args)
    rss_after_chunk: list[int] = []
    with LocalPrometheus(Path(args["tsdb"])) as prom:
        warmup = warm(args, prom.url)  # the same reads by another process first: replay and collection alike
        settings = settings_of(args, args["url"], prom.url)
        source = settings.effective_sources()[0]
        # the client `attribution collect` makes for the source (max_concurrent_queries), recording
        client = RecordingClient.for_source(
            source, settings.collection.retry, settings.collection.max_series_per_query
        )
        assert isinstance(client, RecordingClient)
        rss_before = _rss_mib(resource.RUSAGE_SELF)
        began = time.perf_counter()
        result = collect_window(
            client, settings, factory, start, end, lambda *_: rss_after_chunk.append(_rss_now_mib())
        )
        seconds = time.perf_counter() - began
        fetch, received, by_concurrency = fastest_fetch(prom.url, client.calls, source.max_concurrent_queries)
    rows = sum(result.rows_by_table.values())
    per_hour = _rows_per_hour(args["url"], start, end)
    return {
        "hours": args["hours"],
        "chunk_intervals": args["chunk_intervals"],
        "chunks": result.chunks,
        "rows_by_table": result.rows_by_table,
        "rows": rows,
        "seconds": round(seconds, 3),  # ms: at bench-quick 0.01 s is 4% of the collection
        "rows_per_second": round(rows / seconds),
        "queries": len(client.calls),
        "fetch_only_seconds": round(fetch, 3),
        "fetch_only_seconds_by_concurrency": by_concurrency,
        "fetch_only_bytes": received,
        "rss_before_collect_mib": rss_before,
        "rss_after_each_chunk_mib": rss_after_chunk,
        "rows_per_hour_min_max": [min(per_hour, default=0), max(per_hour, default=0)],
        "prometheus_warmup_seconds": warmup["seconds"],
        "prometheus_warmup_peak_rss_mib": warmup["peak_rss_mib"],
    }


def raw_copy_rows(args: dict[str, Any]) -> dict[str, Any]:
    """The collected rows of ``source`` copied with a raw binary COPY into ``target`` (migrated, empty),
    in batches; only the COPYs are timed, not reading the rows back."""
    from attribution.store import tables

    upgrade(args["target"])
    target = make_sessionmaker(make_engine(args["target"]))
    models = {m.class_.__tablename__: m.class_ for m in tables.Base.registry.mappers}
    seconds, rows = 0.0, 0
    with make_engine(args["source"]).connect() as conn:
        for name in COPIED_TABLES:
            columns = [c.name for c in models[name].__table__.columns]
            result = conn.execution_options(stream_results=True, yield_per=COPY_BATCH_ROWS).execute(
                text(f"SELECT {', '.join(columns)} FROM {name}")
            )
            for batch in result.mappings().partitions(COPY_BATCH_ROWS):
                dicts = [dict(r) for r in batch]
                began = time.perf_counter()
                raw_copy(target, models[name], dicts)
                seconds += time.perf_counter() - began
                rows += len(dicts)
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


def replicate(args: dict[str, Any]) -> dict[str, Any]:
    start, _ = window_of(args)
    began = time.perf_counter()
    rows = replicate_span(args["url"], start, int(args["hours"] * 3600), args["month_days"] * 86_400)
    return {"input_rows": rows, "seconds": round(time.perf_counter() - began, 1)}


def attribute(args: dict[str, Any]) -> dict[str, Any]:
    """run_attribution over the month in windows of ``chunk_hours`` (the scheduler attributes at most a
    day a run), conservation checked by the job on each. Prints ``PROGRESS`` after every window, so a
    run stopped at its budget still gives the hours done, their time and the peak so far."""
    start, _ = window_of(args)
    end = start + timedelta(days=args["month_days"])
    settings = settings_of(args, args["url"], "http://127.0.0.1:9")
    factory = make_sessionmaker(make_engine(args["url"]))
    step = timedelta(hours=args["chunk_hours"])
    totals = {"lines": 0, "total": 0, "cluster": 0}
    began, cpu_began = time.perf_counter(), time.process_time()
    run_seconds: list[list[float]] = []  # each window's wall and process CPU seconds
    last = [began, cpu_began]

    def after_each(summary: AttributionSummary) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run_seconds.append([round(wall - last[0], 2), round(cpu - last[1], 2)])
        last[:] = [wall, cpu]
        totals["lines"] += summary.lines
        totals["total"] += summary.total_usd_micros
        totals["cluster"] += summary.cluster_cost_usd_micros
        done = {
            "hours_done": (summary.end - start) / timedelta(hours=1),
            "hours": (end - start) / timedelta(hours=1),
            "seconds": round(wall - began, 1),
            "lines_written": totals["lines"],
            "peak_rss_mib": _rss_mib(resource.RUSAGE_SELF),
        }
        print("PROGRESS " + json.dumps(done), flush=True)

    # window after window as the scheduler's catch-up does, each window's reads made while the window
    # before is written (attribution/ledger/span.py)
    attribute_span(settings, factory, start, end, step, after_each=after_each)
    lines, total, cluster = totals["lines"], totals["total"], totals["cluster"]
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(time.process_time() - cpu_began, 1),
        "run_seconds": run_seconds,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "chunk_hours": args["chunk_hours"],
        "lines_written": lines,
        "total_usd_micros": total,
        "conserved": total == cluster,
    }


def group_by(args: dict[str, Any]) -> dict[str, Any]:
    """The raw ceiling: one ``GROUP BY`` scan of the month's input rows (bench_attribute's), the best of
    ``repeat`` runs."""
    start, _ = window_of(args)
    end = start + timedelta(days=args["month_days"])
    runs = [raw_group_by(args["url"], start, end)[0] for _ in range(args.get("repeat", 2))]
    return {"seconds": round(min(runs), 2), "runs": [round(r, 2) for r in runs]}


def chargeback(args: dict[str, Any]) -> dict[str, Any]:
    """``build_chargeback`` of the attributed window (the month's chargeback, no API, no cache)."""
    start, _ = window_of(args)
    end = start + timedelta(days=args["month_days"])
    factory = make_sessionmaker(make_engine(args["url"]))
    began = time.perf_counter()
    with factory() as session:
        found = build_chargeback(session, start, end, 60)
    return {"seconds": round(time.perf_counter() - began, 2), "tenants": len(found.tenants)}


def on_demand(args: dict[str, Any]) -> dict[str, Any]:
    """The chargeback of the simulated span computed straight from Prometheus, as a tool without stored
    results would: collect, attribute, sum, into an empty database. The collection is the collect
    stage's own (the same ``collect_window`` of the same span into an empty database, timed there:
    ``collect_seconds``); here the collected rows (a copy of that database made before the month is
    filled) are attributed and summed, timed."""
    factory = make_sessionmaker(make_engine(args["url"]))
    start, end = window_of(args)
    settings = settings_of(args, args["url"], "http://127.0.0.1:9")
    began = time.perf_counter()
    run_attribution(settings, factory, start, end)
    attributed = time.perf_counter()
    with factory() as session:
        found = build_chargeback(session, start, end, settings.interval_seconds)
    done = time.perf_counter()
    return {
        "hours": args["hours"],
        "seconds": round(args["collect_seconds"] + done - began, 2),
        "collect_seconds": args["collect_seconds"],
        "attribute_seconds": round(attributed - began, 2),
        "chargeback_seconds": round(done - attributed, 2),
        "tenants": len(found.tenants),
    }


def _server_peak_rss_mib(port: int) -> int | None:
    """VmHWM of the API server on ``port`` (bench_api.server: ``python -m uvicorn ... --port PORT``, one
    worker; a grandchild, so not in RUSAGE_CHILDREN). Until session 10 this looked for ``serve`` in the
    command line, which bench_api's server does not have, and always gave None."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"uvicorn" in argv and b"--port" in argv and str(port).encode() in argv:
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except OSError:
            continue
    return None


def api(args: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/chargeback?period=`` of the month with a finance key: 50 clients at once on a fresh
    server (cold), then ``requests`` more (warm), each bounded by ``max_seconds``; bench_api's load.

    Then, where wrk is installed (scripts/ensure-wrk.sh), the warm month under wrk with as many
    connections as clients, against the same server returning a constant body of the same size
    (through the router, and from middleware where the warm chargeback is answered): issue 14's
    figures. A Python client on the same two cores measures mostly itself; wrk does not."""
    from bench_api import load, server

    from attribution.localprom import free_port
    from attribution.store.apikeys import create_key
    from attribution.store.session import unit_of_work

    factory = make_sessionmaker(make_engine(args["url"]))
    with unit_of_work(factory) as session:
        finance = create_key(session, ["finance"], "bench-scale").token
    job = ("/v1/chargeback", {"period": args["period"]}, finance)
    port = free_port()
    with server(args["url"], port) as base:
        cold = load(base, [job] * args["clients"], args["clients"], args["max_seconds"])
        warm = load(base, [job] * args["requests"], args["clients"], args["max_seconds"])
        under_wrk = None
        if shutil.which("wrk"):
            under_wrk = _wrk_figures(base, args["period"], finance, args["clients"])
        server_rss = _server_peak_rss_mib(port)
    return {
        "period": args["period"],
        "clients": args["clients"],
        "cold": cold,
        "warm": warm,
        "wrk": under_wrk,
        "server_peak_rss_mib": server_rss,
    }


WRK_SECONDS = 10


def _wrk_figures(base: str, period: str, token: str, connections: int) -> dict[str, Any]:
    """The warm month, then the constant bodies of its size, each for WRK_SECONDS under wrk."""
    import requests
    from wrk_load import wrk

    month, auth = f"{base}/v1/chargeback?period={period}", {"Authorization": f"Bearer {token}"}
    size = len(requests.get(month, headers=auth, timeout=600).content)
    figures = {
        "connections": connections,
        "seconds": WRK_SECONDS,
        "body_bytes": size,
        "month": wrk(month, auth, connections, WRK_SECONDS),
        "constant": wrk(f"{base}/__bench/constant?bytes={size}", {}, connections, WRK_SECONDS),
        "constant_asgi": wrk(f"{base}/__bench/constant-asgi?bytes={size}", {}, connections, WRK_SECONDS),
    }
    rate = figures["month"]["requests_per_second"]
    figures["month_over_constant"] = round(rate / figures["constant"]["requests_per_second"], 3)
    figures["month_over_constant_asgi"] = round(rate / figures["constant_asgi"]["requests_per_second"], 3)
    return figures


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "simulate": simulate,
    "ingest": ingest,
    "collect": collect,
    "raw_copy": raw_copy_rows,
    "replicate": replicate,
    "attribute": attribute,
    "on_demand": on_demand,
    "group_by": group_by,
    "chargeback": chargeback,
    "api": api,
}
assert set(INPUT_TABLES) >= set(COPIED_TABLES)


def main() -> None:
    stage, args = sys.argv[1], json.loads(sys.argv[2])
    out = STAGES[stage](args)
    out["peak_rss_mib"] = _rss_mib(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()
