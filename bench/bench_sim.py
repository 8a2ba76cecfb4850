"""Benchmark of the simulator's history mode: samples/s, peak memory, bytes, and promtool on the output.

Run: .venv/bin/python bench/bench_sim.py [--scenario fleet] [--hours 24] [--histograms] [--workers 2]
     [--split-hours 2] [--promtool] [--keep | --discard]
Prints figures and merges them into bench/results/sim.json under a key naming the run. A benchmark, not a
test: no thresholds. Output goes to a temporary directory (deleted unless --keep): a day of the 1,024-GPU
fleet is about 28 GB of OpenMetrics text.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attribution.sim import ClusterSpec, HistoryResult, generate_history, scenario

END = datetime(2026, 11, 2, tzinfo=UTC)
MONTH_HOURS = 30 * 24


def _rss_mib(who: int) -> int:
    return resource.getrusage(who).ru_maxrss // 1024


def _promtool(path: Path, data_dir: Path) -> dict[str, Any]:
    """Backfill one file with week-long blocks; wall time and peak RSS from GNU time."""
    command = ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h",
               str(path), str(data_dir)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    samples = sum(int(line.split()[4]) for line in done.stdout.splitlines()[1:] if line.strip())
    return {
        "file_bytes": path.stat().st_size,
        "samples": samples,
        "seconds": round(seconds, 1),
        "samples_per_second": round(samples / seconds),
        "peak_rss_mib": int(rss.group(1)) // 1024 if rss else None,
    }


def run_history(
    spec: ClusterSpec,
    start: datetime,
    end: datetime,
    out: Path,
    *,
    histograms: bool = False,
    workers: int = 2,
    split_seconds: int | None = 7200,
    warmup_seconds: int = 3600,
    progress: Callable[[float], None] | None = None,
) -> tuple[HistoryResult, float]:
    """Generate ``[start, end)`` of ``spec`` into ``out``; the result and the wall seconds it took.
    Shared with bench_scale.py so both measure generation the same way."""
    started = time.perf_counter()
    result = generate_history(
        spec,
        start,
        end,
        out,
        include_histograms=histograms,
        workers=workers,
        split_seconds=split_seconds,
        warmup_seconds=warmup_seconds,
        progress=progress,
    )
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="fleet")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--histograms", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--split-hours", type=int, default=2, help="0: one file")
    parser.add_argument("--warmup-seconds", type=int, default=3600)
    parser.add_argument("--promtool", action="store_true", help="backfill the first file and time it")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--discard",
        action="store_true",
        help="delete each OpenMetrics file once finished (long runs, small disks)",
    )
    args = parser.parse_args()
    spec = scenario(args.scenario, seed=0)
    work = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    written_total = 0

    def discard(_: float) -> None:
        """Called after each chunk: finished files (the open one is still a hidden spool) go away."""
        nonlocal written_total
        for path in (work / "history").glob("history*.om"):
            written_total += path.stat().st_size
            path.unlink()

    try:
        result, seconds = run_history(
            spec,
            END - timedelta(hours=args.hours),
            END,
            work / "history",
            histograms=args.histograms,
            workers=args.workers,
            split_seconds=args.split_hours * 3600 or None,
            warmup_seconds=args.warmup_seconds,
            progress=discard if args.discard else None,
        )
        if args.discard:
            discard(1.0)
        written = written_total or sum(p.stat().st_size for p in result.openmetrics_paths)
        truth = sum(p.stat().st_size for p in (result.truth_intervals_path, result.truth_pool_intervals_path))
        scale = MONTH_HOURS / args.hours
        figures: dict[str, Any] = {
            "scenario": args.scenario,
            "gpus": sum(p.gpus for p in spec.pools) + sum(spec.unallocated_gpus.values()),
            "pools": len(spec.pools),
            "tenants": len({t.name for t in spec.tenants}),
            "scrape_interval_seconds": spec.scrape_interval_seconds,
            "histograms": args.histograms,
            "workers": args.workers,
            "hours": args.hours,
            "samples": result.samples,
            "requests": result.requests,
            "seconds": round(seconds, 1),
            "samples_per_second": round(result.samples / seconds),
            "requests_per_second_simulated": round(result.requests / seconds),
            "openmetrics_bytes": written,
            "bytes_per_sample": round(written / max(result.samples, 1), 1),
            "truth_csv_bytes": truth,
            "files": len(result.openmetrics_paths),
            "peak_rss_mib": _rss_mib(resource.RUSAGE_SELF),
            "peak_rss_worker_mib": _rss_mib(resource.RUSAGE_CHILDREN),
            "month_extrapolated": {
                "hours_of_generation": round(seconds * scale / 3600, 2),
                "samples": round(result.samples * scale),
                "openmetrics_gb": round(written * scale / 1e9),
            },
            "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": 2},
        }
        if args.promtool and shutil.which("promtool") and not args.discard:
            figures["promtool_first_file"] = _promtool(result.openmetrics_paths[0], work / "tsdb")
        if args.keep:
            figures["kept_in"] = str(work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    figures["discarded_files_as_written"] = args.discard
    key = f"{args.scenario}-{args.hours:g}h-{'hist' if args.histograms else 'nohist'}-w{args.workers}"
    out = Path(__file__).parent / "results" / "sim.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results[key] = figures
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
