"""The month's chargeback under load from ``wrk`` (compiled, one process), against the constant-body ceiling.

Run: scripts/ensure-wrk.sh && .venv/bin/python bench/wrk_load.py [--tenants 1000] [--workers 2]
     [--connections 50] [--seconds 15] [--database-url postgresql://...]
Prints a table and writes bench/results/wrk-<tenants>-w<workers>.json. A benchmark, not a test.

The month is seeded as bench/api_month.py seeds it (with its rollups), the server is the API as
``attribution serve`` runs it plus the benchmark's constant route (bench/constant_app.py). Scenarios, each
``--seconds`` long with ``--connections`` keep-alive connections on 2 wrk threads, after warming requests:
the month's chargeback for a finance key (200, the kept bytes), the same with ``If-None-Match`` (304),
``/__bench/constant`` with a body of the chargeback's size (the ceiling: same server, loop, parser,
workers, middleware and router, no key, no database), ``/__bench/constant-asgi`` (the same bytes from
middleware before the router, where the warm chargeback is answered), and ``/healthz``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from api_month import seed_month  # noqa: E402
from bench_api import server  # noqa: E402

from attribution.localprom import free_port  # noqa: E402
from attribution.store.apikeys import create_key  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from tests.support.postgres import fresh_database_on  # noqa: E402

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], connections: int, seconds: int) -> dict[str, Any]:
    """One wrk run: requests/s, latency percentiles (ms), non-2xx/3xx responses and socket errors."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found: dict[str, Any] = {"requests_per_second": float(_match(r"Requests/sec:\s+([\d.]+)", out))}
    for pct in ("50", "75", "90", "99"):
        value, unit = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        found[f"p{pct}_ms"] = round(float(value) * UNITS[unit], 2)
    found["requests"] = int(_match(r"(\d+) requests in", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["non_2xx_3xx"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: (.*)", out)
    found["socket_errors"] = errors.group(1).strip() if errors else ""
    return found


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="server processes, one run each")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--database-url", default=None, help="a Postgres server (a database is created)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run scripts/ensure-wrk.sh")
    with fresh_database_on(args.database_url) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        seeded = seed_month(factory, args.tenants, 3600, 60)
        print(f"seeded {seeded['lines']:,} lines in {seeded['seed_seconds']} s", flush=True)
        with unit_of_work(factory) as session:
            token = create_key(session, ["finance"], "wrk").token
        for workers in args.workers:
            _serve(url, token, workers, args, seeded["total_usd_micros"])
        engine.dispose()


def _serve(url: str, token: str, workers: int, args: argparse.Namespace, total_usd_micros: int) -> None:
    """The four scenarios against one server of ``workers`` processes; prints and writes the figures."""
    auth = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}
    with server(url, free_port(), workers) as base:
        month = f"{base}/v1/chargeback?period=2026-11"
        for _ in range(2 * workers + 2):  # every worker reads the month and keeps the answer
            first = requests.get(month, headers=auth, timeout=120)
            first.raise_for_status()
        body = first.json()
        assert len(body["tenants"]) == args.tenants and body["total_usd_micros"] == total_usd_micros
        size, etag = len(first.content), first.headers["ETag"]
        run = {"connections": args.connections, "seconds": args.seconds}
        scenarios = {
            "month_200": (month, auth),
            "month_304": (month, {**auth, "If-None-Match": etag}),
            "constant_same_size": (f"{base}/__bench/constant?bytes={size}", {}),
            "constant_asgi_same_size": (f"{base}/__bench/constant-asgi?bytes={size}", {}),
            "healthz": (f"{base}/healthz", {}),
        }
        for name, (target, headers) in scenarios.items():
            results[name] = wrk(target, headers, **run)
            print(f"workers {workers} {name}: {results[name]}", flush=True)
    ceiling = results["constant_same_size"]["requests_per_second"]
    summary = {
        "tenants": args.tenants,
        "workers": workers,
        "body_bytes": size,
        "month_over_constant": round(results["month_200"]["requests_per_second"] / ceiling, 3),
        "month_over_constant_asgi": round(
            results["month_200"]["requests_per_second"]
            / results["constant_asgi_same_size"]["requests_per_second"],
            3,
        ),
        **results,
    }
    print(f"workers {workers}:")
    for name, r in results.items():
        print(
            f"  {name:20s} {r['requests_per_second']:>9.1f} req/s  p50 {r['p50_ms']:>8.2f} ms  "
            f"p90 {r['p90_ms']:>8.2f} ms  p99 {r['p99_ms']:>8.2f} ms  "
            f"bad {r['non_2xx_3xx']} {r['socket_errors']}"
        )
    print(
        f"  month ÷ constant: {summary['month_over_constant']}, ÷ constant-asgi: "
        f"{summary['month_over_constant_asgi']}  ({size:,}-byte body)",
        flush=True,
    )
    out = ROOT / "bench" / "results" / f"wrk-{args.tenants}-w{workers}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
