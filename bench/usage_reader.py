"""The usage reader alone, old against new, on a seeded database: the job's windows, a few runs each.

Run: .venv/bin/python bench/usage_reader.py --database-url postgresql://.../db [--days 30] [--runs 3]

Reads the month in 24 h windows as the attribute stage does, each in its own transaction tuned as the
job tunes it, with: the reader before this change (``array_agg`` of ``extract(epoch ...)``, grouped by a
sort; its query copied here), the current :func:`attribution.store.columns.usage_columns`, and, for
reference, a binary ``COPY`` of the same columns read through psycopg and not decoded at all (the
floor of such a reader: psycopg hands each row to Python as one message; a full COPY reader, codes
and parsing included, is on branch wip/usagecopy-copy-experiment). Prints wall seconds per run, and the
CPU seconds of this process and of its Postgres backend together (steadier on a shared machine), and
checks the two readers' columns equal, bit for bit. Reads only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from bench_attribute import MONTH_START  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from attribution.model.vectorized_usage import UsageColumns  # noqa: E402
from attribution.model.vocabulary import DEFAULT_CLUSTER  # noqa: E402
from attribution.store import columns  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402

OLD_ARRAYS = """
SELECT pool, tenant, tier, count(*) AS n,
       array_send(array_agg(extract(epoch FROM interval_start)::bigint)) AS interval_start_s,
       array_send(array_agg(requests::bigint)) AS requests,
       array_send(array_agg(prompt_tokens::bigint)) AS prompt_tokens,
       array_send(array_agg(generation_tokens::bigint)) AS generation_tokens,
       array_send(array_agg(kv_token_seconds::float8)) AS kv_token_seconds
FROM tenant_usage
WHERE interval_start >= :start AND interval_start < :end AND cluster = :cluster
GROUP BY pool, tenant, tier
"""
COPY = (
    "COPY (SELECT interval_start, requests, prompt_tokens, generation_tokens, kv_token_seconds "
    "FROM tenant_usage WHERE interval_start >= %s AND interval_start < %s AND cluster = %s) "
    "TO STDOUT (FORMAT binary)"
)


def old_reader(session: Session, start: datetime, end: datetime) -> UsageColumns:
    """The reader as it was (commit 43a8906): the planner's sort, ``extract`` in SQL, one binary array
    per group and column, decoded group by group."""
    names: list[tuple[str, str, str]] = []
    sizes: list[int] = []
    parts: list[list[Any]] = [[], [], [], [], []]
    at = start
    while at < end:
        stop = min(end, at + timedelta(seconds=columns.SLICE_SECONDS))
        params = {"start": at, "end": stop, "cluster": DEFAULT_CLUSTER}
        for pool, tenant, tier, n, *arrays in session.execute(text(OLD_ARRAYS), params):
            names.append((pool, tenant, tier))
            sizes.append(n)
            for i, (data, element) in enumerate(zip(arrays, [">i8"] * 4 + [">f8"], strict=True)):
                parts[i].append(_decode_array(bytes(data), n, element))
        at = stop
    empty = [np.zeros(0, dtype=np.int64)] * 4 + [np.zeros(0, dtype=np.float64)]
    batch = (names, sizes, [np.concatenate([e, *p]) for e, p in zip(empty, parts, strict=True)])
    return columns._assemble([batch])


def _decode_array(data: bytes, n: int, element: str) -> Any:
    """A one-dimensional array without NULLs in Postgres' binary format: a 20-byte header, then each
    element as its length and its bytes."""
    if n == 0:
        return np.zeros(0, dtype=np.dtype(element).newbyteorder("="))
    items = np.frombuffer(data, dtype=np.dtype([("length", ">i4"), ("value", element)]), offset=20, count=n)
    return items["value"].astype(np.dtype(element).newbyteorder("="))


def new_reader(session: Session, start: datetime, end: datetime) -> UsageColumns:
    return columns.usage_columns(session, start, end)


def raw_copy(session: Session, start: datetime, end: datetime) -> int:
    """Bytes of a binary COPY of the window, read and dropped."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    size = 0
    with driver.cursor() as cursor, cursor.copy(COPY, (start, end, DEFAULT_CLUSTER)) as copy:
        for block in copy:
            size += len(block)
    return size


def backend_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) of a local Postgres backend so far: on a shared machine the work
    a reader makes is steadier than its wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    factory = make_sessionmaker(make_engine(args.database_url))
    windows = [
        (MONTH_START + timedelta(days=d), MONTH_START + timedelta(days=d + 1)) for d in range(args.days)
    ]

    def month(reader: Callable[[Session, datetime, datetime], Any]) -> tuple[float, list[Any]]:
        out = []
        began, client_began, server_s = time.perf_counter(), time.process_time(), 0.0
        for start, end in windows:
            with factory() as session:
                columns.tune_for_scans(session)
                backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                server_began = backend_cpu_s(backend)
                out.append(reader(session, start, end))
                server_s += backend_cpu_s(backend) - server_began
        cpu[-1].append(round(time.process_time() - client_began + server_s, 2))
        return time.perf_counter() - began, out

    seconds: dict[str, list[float]] = {"old": [], "new": [], "raw_copy_undecoded": []}
    rows = 0
    cpu: list[list[float]] = []
    for _ in range(args.runs):
        cpu.append([])
        old_s, old = month(old_reader)
        new_s, new = month(new_reader)
        copy_s, _sizes = month(raw_copy)
        seconds["old"].append(round(old_s, 2))
        seconds["new"].append(round(new_s, 2))
        seconds["raw_copy_undecoded"].append(round(copy_s, 2))
        for a, b in zip(old, new, strict=True):
            assert a.pools == b.pools and a.keys == b.keys
            for name in ("interval_start_s", "pool", "key", "requests", "prompt_tokens", "generation_tokens"):
                assert np.array_equal(getattr(a, name), getattr(b, name)), name
            assert np.array_equal(a.kv_token_seconds.view(np.int64), b.kv_token_seconds.view(np.int64))
        rows = sum(len(c) for c in new)
    cpu_s = {name: [run[i] for run in cpu] for i, name in enumerate(("old", "new", "raw_copy_undecoded"))}
    result = {
        "rows": rows,
        "windows": len(windows),
        "seconds": seconds,
        "cpu_seconds_client_and_server": cpu_s,
    }
    print(json.dumps({**result, "load_average_1m": round(os.getloadavg()[0], 1)}, indent=1))


if __name__ == "__main__":
    main()
