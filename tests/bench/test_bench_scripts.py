"""The benchmarks `make bench` runs still run: each at a tiny size, against the test Postgres.

A benchmark is not a test of speed (figures live in bench/results), but one that crashes makes
`make bench` stop at that step and every later figure is lost: `bench_collect.py` did so for months after
the sample tables gained their ``cluster`` column. These run the scripts as `make bench` does (their own
process, their own arguments) at sizes that take seconds, and check what they print is sane.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_bench_collect_runs_and_writes_every_strategy(pg_server: str, tmp_path: Path) -> None:
    out = tmp_path / "collect.json"
    _run(
        "bench/bench_collect.py",
        "--rows",
        "300",
        "--repeat",
        "1",
        "--database-url",
        pg_server,
        "--out",
        str(out),
    )
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"gpu_samples", "tenant_usage"}
    for table in results.values():
        assert table["rows"] == 300
        assert set(table["rows_per_second"]) == {
            "raw_copy",
            "bulk_upsert_insert",
            "bulk_upsert_update",
            "executemany_upsert",
        }
        assert all(rate > 0 for rate in table["rows_per_second"].values())


def test_bench_model_engines_agree_on_every_line(tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    _run("bench/bench_model.py", "--days", "1", "--pools", "2", "--tenants", "3", "--out", str(out))
    figures = json.loads(out.read_text())["runs"]["1d-2p-3t"]
    assert figures["vectorized_identical_lines"] is True
    reference = figures["engines"]["reference"]
    assert reference["lines"] > 0
    assert figures["engines"]["vectorized"]["total_usd_micros"] == reference["total_usd_micros"]


def test_inventory_split_runs_and_the_columns_equal_the_reference() -> None:
    """A day of a real cluster's shape (every interval's MiB differs): the script asserts the columns'
    outputs equal the per-interval reference's before it prints, so a clean exit is that check passing."""
    figures = json.loads(_run("bench/inventory_split.py", "--days", "1").stdout)
    assert figures["gpu_count_rows"] == 1440 * 21  # 20 pools and the unallocated GPUs, every minute
    assert figures["seconds"]["cpu"]["reference"] > 0 and figures["seconds"]["cpu"]["columns"] > 0
