"""History mode: simulate a window and write it as an OpenMetrics backfill file plus ground truth.

Load the output into Prometheus with
``promtool tsdb create-blocks-from openmetrics history.om <data dir>`` (see docs/simulator.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attribution.errors import InvalidWindowError
from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS
from attribution.sim.dcgm import dcgm_families
from attribution.sim.gateway import gateway_families
from attribution.sim.openmetrics import write_openmetrics
from attribution.sim.scenario import ClusterSpec
from attribution.sim.timeline import build_run, pool_load
from attribution.sim.truth import write_truth
from attribution.sim.vllm import vllm_families

#: Traffic is simulated from this long before the window so it opens in steady state.
DEFAULT_WARMUP_SECONDS = 3600


@dataclass(frozen=True)
class HistoryResult:
    """Paths written and sizes: ``samples`` is the number of OpenMetrics samples, ``requests`` the
    number of requests that completed inside the window (the sum of the truth totals' requests)."""

    openmetrics_path: Path
    truth_path: Path
    truth_intervals_path: Path
    samples: int
    requests: int
    truth_pool_intervals_path: Path


def generate_history(
    spec: ClusterSpec,
    start: datetime,
    end: datetime,
    out_dir: Path,
    *,
    interval_seconds: int = 60,
    include_histograms: bool = True,
    tier_boundaries_tokens: tuple[int, ...] = DEFAULT_TIER_BOUNDARIES_TOKENS,
    warmup_seconds: int = DEFAULT_WARMUP_SECONDS,
) -> HistoryResult:
    """Simulate [start, end) and write ``history.om``, ``truth.json``, ``truth_intervals.csv`` and
    ``truth_pool_intervals.csv`` into ``out_dir`` (created if missing).

    ``start`` and ``end`` must be timezone-aware and multiples of ``interval_seconds`` since the Unix
    epoch, so truth intervals tile the window exactly. Same spec and arguments give byte-identical files.
    """
    start_unix, window_seconds = _window(start, end, interval_seconds)
    if warmup_seconds < 0:
        raise InvalidWindowError("warmup_seconds must be >= 0")
    if window_seconds <= spec.scrape_offset_seconds:
        raise InvalidWindowError("the window holds no scrape (shorter than scrape_offset_seconds)")
    out_dir.mkdir(parents=True, exist_ok=True)
    run = build_run(
        spec,
        start_unix,
        window_seconds,
        warmup_seconds=warmup_seconds,
        tier_boundaries_tokens=tier_boundaries_tokens,
        include_histograms=include_histograms,
    )
    load = pool_load(run)
    families = [*vllm_families(run, load), *dcgm_families(run, load), *gateway_families(run)]
    openmetrics_path = out_dir / "history.om"
    samples = write_openmetrics(openmetrics_path, families, run.scrape_unix_seconds)
    paths = write_truth(run, out_dir, interval_seconds)
    finish = run.requests.finish_seconds
    completed = int(((finish >= 0) & (finish < window_seconds)).sum())
    return HistoryResult(
        openmetrics_path=openmetrics_path,
        truth_path=paths.truth,
        truth_intervals_path=paths.intervals,
        samples=samples,
        requests=completed,
        truth_pool_intervals_path=paths.pool_intervals,
    )


def _window(start: datetime, end: datetime, interval_seconds: int) -> tuple[int, int]:
    """(start as Unix seconds, window length in seconds), after checking the window is usable."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidWindowError("start and end must be timezone-aware (UTC)")
    if interval_seconds < 1:
        raise InvalidWindowError("interval_seconds must be >= 1")
    start_ts = start.astimezone(UTC).timestamp()
    end_ts = end.astimezone(UTC).timestamp()
    if start_ts % interval_seconds or end_ts % interval_seconds:
        raise InvalidWindowError(
            f"start and end must be multiples of interval_seconds={interval_seconds} since the epoch"
        )
    if end_ts <= start_ts:
        raise InvalidWindowError("end must be after start")
    return int(start_ts), int(end_ts - start_ts)
