"""Benchmark of the reporting API: chargeback latency for a month and 1,000 tenants under 50 concurrent
clients on loopback, answered from stored results (Postgres), never from Prometheus.

Run: .venv/bin/python bench/bench_api.py [--tenants 1000] [--clients 50] [--requests 3000]
     [--max-seconds 120] [--database-url postgresql://...] [--workers 1] [--loop auto] [--http auto]
     [--out api.json]
Without a URL it starts a throwaway cluster (tests/support/postgres.py). Prints figures and writes
bench/results/api.json. A benchmark, not a test: no thresholds.

The month is seeded synthetically by bench/api_month.py, straight into ``attributed_costs`` with a
binary COPY (collecting and attributing a month of 1,000 tenants would take far longer and is measured
elsewhere): one line per tenant x tier x pool per stored grain (an hour by default,
``line_grain_seconds``), each tenant in two of four tiers on each of two pools, plus one ``cluster_costs``
row per interval and one attribution run.
The API runs as ``attribution serve`` does (uvicorn, ``--workers`` processes) on a free loopback port;
clients are threads with their own HTTP connections. Measured:

* ``window_read_seconds``: one read of the month's line set from Postgres (what a cache miss costs);
* ``cold``: 50 clients asking for the month at once on a fresh server (one of them reads, all wait);
* ``admin_month``: ``GET /v1/chargeback?period=`` with a finance key, by tenant (1,000 rows), warm;
* ``tenant_month``: the same with tenant keys, each its own tenant's chargeback, warm;
* ``line_items_page``: ``GET /v1/line-items`` pages of 1,000, walked with cursors, warm;
* ``constant_same_size``: the ceiling, ``GET /__bench/constant`` (bench/constant_app.py) answering a
  constant body of the month's size from the same server; ``ratios`` compares the month with it;
* ``admin_month_304``: the month with ``If-None-Match`` of its ETag (a 304 without a body).

Figures and how to read them: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import text  # noqa: E402

from attribution.localprom import free_port  # noqa: E402
from attribution.reports.lineitems import window_lines  # noqa: E402
from attribution.store.apikeys import create_key  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from api_month import DEC, NOV, seed_month  # noqa: E402

from tests.support.postgres import fresh_database_on  # noqa: E402


@contextmanager
def server(url: str, port: int, workers: int = 1, loop: str = "auto", http: str = "auto") -> Iterator[str]:
    """The API as ``attribution serve`` runs it (uvicorn, ``workers`` processes), plus the benchmark's
    constant route (bench/constant_app.py) for the ceiling."""
    env = {**os.environ, "ATTRIBUTION_DATABASE_URL": url, "ATTRIBUTION_LOG_LEVEL": "WARNING"}
    env.pop("ATTRIBUTION_CONFIG", None)
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "uvicorn", "bench.constant_app:make_app"]
    command += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--loop", loop, "--http", http, "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError("the API did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a graceful shutdown that hangs must not lose the figures
            proc.kill()
            proc.wait(timeout=20)


def load(
    base: str,
    jobs: list[tuple[str, dict[str, str], str]],
    clients: int,
    max_seconds: float,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``jobs`` (path, params, key) on ``clients`` threads; latency per request, in seconds."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(reversed(jobs))
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        http = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                path, params, key = queue.pop()
            began = time.perf_counter()
            response = http.get(
                base + path,
                params=params,
                headers={"Authorization": f"Bearer {key}", **(extra or {})},
                timeout=300,
            )
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return summarise(latencies, statuses, wall, len(jobs))


def summarise(latencies: list[float], statuses: dict[int, int], wall: float, asked: int) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return (
            round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)
            if ordered
            else float("nan")
        )

    return {
        "requests": len(ordered),
        "asked": asked,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else None,
        "requests_per_second": round(len(ordered) / wall, 1),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000, help="per warm scenario")
    parser.add_argument("--max-seconds", type=float, default=120, help="per scenario")
    parser.add_argument("--grain-seconds", type=int, default=3600)
    parser.add_argument("--database-url", default=None, help="a Postgres server (a database is created)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (attribution serve)")
    parser.add_argument("--loop", default="auto", help="uvicorn event loop: auto, asyncio, uvloop")
    parser.add_argument("--http", default="auto", help="uvicorn HTTP parser: auto, h11, httptools")
    parser.add_argument("--out", default="api.json", help="file name under bench/results")
    args = parser.parse_args()
    interval_seconds = 60
    with fresh_database_on(args.database_url) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        seeded = seed_month(factory, args.tenants, args.grain_seconds, interval_seconds)
        print(f"seeded {seeded['lines']:,} lines in {seeded['seed_seconds']} s")
        with factory() as session:
            began = time.perf_counter()
            month = window_lines(session, NOV, DEC)
            read_seconds = time.perf_counter() - began
            pg_version = session.execute(text("SHOW server_version")).scalar()
        print(f"window read: {len(month):,} pool x tenant x tier lines in {read_seconds:.2f} s")
        with unit_of_work(factory) as session:
            finance = create_key(session, ["finance"], "bench").token
            tenant_keys = {
                f"tenant-{i:04d}": create_key(session, [f"tenant:tenant-{i:04d}"]).token
                for i in range(0, args.tenants, max(1, args.tenants // 100))
            }
        month_params = {"period": "2026-11"}
        results: dict[str, Any] = {}
        with server(url, free_port(), args.workers, args.loop, args.http) as base:
            results["cold"] = load(
                base,
                [("/v1/chargeback", month_params, finance)] * args.clients,
                args.clients,
                args.max_seconds,
            )
            results["admin_month"] = load(
                base,
                [("/v1/chargeback", month_params, finance)] * args.requests,
                args.clients,
                args.max_seconds,
            )
            month_answer = requests.get(
                f"{base}/v1/chargeback",
                params=month_params,
                headers={"Authorization": f"Bearer {finance}"},
                timeout=60,
            )
            size = str(len(month_answer.content))
            results["constant_same_size"] = load(
                base,
                [("/__bench/constant", {"bytes": size}, finance)] * args.requests,
                args.clients,
                args.max_seconds,
            )
            if month_answer.headers.get("ETag"):
                results["admin_month_304"] = load(
                    base,
                    [("/v1/chargeback", month_params, finance)] * args.requests,
                    args.clients,
                    args.max_seconds,
                    {"If-None-Match": month_answer.headers["ETag"]},
                )
            ceiling = results["constant_same_size"]["requests_per_second"]
            results["ratios"] = {
                "body_bytes": int(size),
                "admin_month_throughput_over_constant": round(
                    results["admin_month"]["requests_per_second"] / ceiling, 3
                ),
                "admin_month_p99_over_constant_p99": round(
                    results["admin_month"]["p99_ms"] / results["constant_same_size"]["p99_ms"], 2
                ),
            }
            names = sorted(tenant_keys)
            jobs = [
                ("/v1/chargeback", month_params, tenant_keys[names[k % len(names)]])
                for k in range(args.requests)
            ]
            results["tenant_month"] = load(base, jobs, args.clients, args.max_seconds)
            pages = [("/v1/line-items", {**month_params, "limit": "1000"}, finance)] * (args.requests // 3)
            results["line_items_page"] = load(base, pages, args.clients, args.max_seconds)
            body = requests.get(
                f"{base}/v1/chargeback",
                params=month_params,
                headers={"Authorization": f"Bearer {finance}"},
                timeout=60,
            ).json()
            assert (
                len(body["tenants"]) == args.tenants
                and body["total_usd_micros"] == seeded["total_usd_micros"]
            )
        engine.dispose()
    for name, r in results.items():
        if name == "ratios":
            print(f"ratios: {r}")
            continue
        print(
            f"{name:16s} p50 {r['p50_ms']:>8.1f} ms  p99 {r['p99_ms']:>8.1f} ms  "
            f"{r['requests_per_second']:>7.1f} req/s  ({r['requests']} requests, {r['statuses']})"
        )
    out = {
        "scenario": {
            "tenants": args.tenants,
            "clients": args.clients,
            "period": "2026-11",
            "grain_seconds": args.grain_seconds,
            "interval_seconds": interval_seconds,
            "workers": args.workers,
            "loop": args.loop,
            "http": args.http,
        },
        "seed": seeded,
        "window_read_seconds": round(read_seconds, 3),
        "window_lines": len(month),
        "results": results,
        "postgres": pg_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "note": "API and clients share the machine's CPUs; server: uvicorn as attribution serve runs it, "
        f"{args.workers} process(es), plus the bench's constant route (the ceiling); "
        "warm figures are served from the window cache (read once per attribution run), cold ones read it",
    }
    path = ROOT / "bench" / "results" / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
