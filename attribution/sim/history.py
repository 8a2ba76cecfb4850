"""History mode: simulate a window and stream it to OpenMetrics backfill files plus ground truth.

The simulation advances in chunks of ``chunk_seconds`` (memory is bounded by one chunk). Output is one
``history.om``, or with ``split_seconds`` one file per UTC-aligned range (``history-<start>.om``, e.g. a
day, or promtool's block range), each loadable on its own with
``promtool tsdb create-blocks-from openmetrics --max-block-duration=168h FILE DIR`` (see docs/simulator.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from attribution.errors import InvalidWindowError
from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS, validate_tier_boundaries
from attribution.sim.chunk import Chunk, ClusterSim, SimContext
from attribution.sim.cluster import ClusterSpec
from attribution.sim.exposition import Family
from attribution.sim.openmetrics import OpenMetricsSpool
from attribution.sim.parallel import ProcessClusterSim
from attribution.sim.registry import ClusterExporters
from attribution.sim.truth import TruthWriter

#: Traffic is simulated from this long before the window so it opens in steady state.
DEFAULT_WARMUP_SECONDS = 3600
DEFAULT_CHUNK_SECONDS = 3600


@dataclass(frozen=True)
class HistoryResult:
    """Paths written and sizes: ``samples`` is the number of OpenMetrics samples, ``requests`` the
    number of requests that completed inside the window (the sum of the truth totals' requests).
    ``openmetrics_path`` is the first (or only) file of ``openmetrics_paths``."""

    openmetrics_path: Path
    truth_path: Path
    truth_intervals_path: Path
    samples: int
    requests: int
    truth_pool_intervals_path: Path
    openmetrics_paths: tuple[Path, ...] = ()


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
    chunk_seconds: int = DEFAULT_CHUNK_SECONDS,
    split_seconds: int | None = None,
    workers: int = 0,
    progress: Callable[[float], None] | None = None,
) -> HistoryResult:
    """Simulate [start, end) and write the OpenMetrics file(s), ``truth.json``, ``truth_intervals.csv``
    and ``truth_pool_intervals.csv`` into ``out_dir`` (created if missing).

    ``start`` and ``end`` must be timezone-aware and multiples of ``interval_seconds`` since the Unix
    epoch, so truth intervals tile the window; ``chunk_seconds`` and ``split_seconds`` must be multiples of
    ``interval_seconds``. Same spec and arguments give byte-identical files (``workers`` aside: with
    ``workers`` > 0 the engines run in that many processes, one chunk ahead, with identical results).
    ``progress`` receives the fraction of the window done after each chunk.
    """
    start_unix, window = _window(start, end, interval_seconds)
    if warmup_seconds < 0:
        raise InvalidWindowError("warmup_seconds must be >= 0")
    if window <= spec.scrape_offset_seconds:
        raise InvalidWindowError("the window holds no scrape (shorter than scrape_offset_seconds)")
    for name, value in (("chunk_seconds", chunk_seconds), ("split_seconds", split_seconds)):
        if value is not None and (value < interval_seconds or value % interval_seconds):
            raise InvalidWindowError(f"{name} must be a positive multiple of interval_seconds")
    validate_tier_boundaries(tier_boundaries_tokens)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = SimContext(spec, start_unix, tier_boundaries_tokens, include_histograms)
    begin = -float(warmup_seconds)
    sim = ProcessClusterSim(context, begin, workers) if workers else ClusterSim(context, begin)
    exporters = ClusterExporters(context)
    truth = TruthWriter(context, out_dir, window, interval_seconds)
    writer = _Files(out_dir, [target.label_text for target in exporters.targets], start_unix, split_seconds)
    scrapes = np.arange(spec.scrape_offset_seconds, window, spec.scrape_interval_seconds, dtype=np.float64)
    steps = [(float(b), np.zeros(0)) for b in _grid(-warmup_seconds, 0, chunk_seconds, None, start_unix)]
    previous = 0.0
    for boundary in _grid(0, window, chunk_seconds, split_seconds, start_unix):
        steps.append((float(boundary), scrapes[(scrapes >= previous) & (scrapes < boundary)]))
        previous = boundary
    try:
        sim.submit(*steps[0])
        for k in range(len(steps)):
            chunk = sim.result()
            if k + 1 < len(steps):
                sim.submit(*steps[k + 1])  # workers simulate the next chunk while this one is written
            families = exporters.families(chunk)
            if chunk.end <= 0:
                continue  # warm-up: counters and series births accumulate, nothing is written
            writer.add(families, chunk)
            truth.add(chunk)
            if progress is not None:
                progress(chunk.end / window)
    except BaseException:
        writer.abandon()
        raise
    finally:
        sim.close()
    writer.close()
    paths = writer.paths
    truth_path, intervals_path, pools_path = truth.close()
    return HistoryResult(
        openmetrics_path=paths[0],
        truth_path=truth_path,
        truth_intervals_path=intervals_path,
        samples=writer.samples,
        requests=truth.completed_requests,
        truth_pool_intervals_path=pools_path,
        openmetrics_paths=tuple(paths),
    )


class _Files:
    """The OpenMetrics file(s) of a run: one, or one per UTC-aligned ``split_seconds`` range."""

    def __init__(self, out_dir: Path, targets: list[str], start_unix: int, split_seconds: int | None) -> None:
        self.out_dir, self.targets, self.start, self.split = out_dir, targets, start_unix, split_seconds
        self.spool: OpenMetricsSpool | None = None
        self.paths: list[Path] = []
        self.samples = 0

    def add(self, families: list[Family], chunk: Chunk) -> None:
        if self.spool is None:
            name = "history.om" if self.split is None else f"history-{_stamp(self.start + chunk.begin)}.om"
            self.spool = OpenMetricsSpool(self.out_dir / name, self.targets)
        self.spool.add(families, chunk.scrape_unix)
        if self.split is not None and (self.start + round(chunk.end)) % self.split == 0:
            self.close()

    def close(self) -> None:
        if self.spool is not None:
            self.samples += self.spool.samples
            self.paths.append(self.spool.close())
            self.spool = None

    def abandon(self) -> None:
        if self.spool is not None:
            self.spool.abandon()


def _grid(begin: int, end: int, chunk: int, split: int | None, start_unix: int) -> list[int]:
    """Chunk ends in (begin, end]: every ``chunk`` seconds from ``begin``, plus every Unix multiple of
    ``split`` (so no chunk straddles two output files)."""
    ends = set(range(begin + chunk, end, chunk)) | {end}
    if split is not None:
        first = -(-(start_unix + begin + 1) // split) * split - start_unix
        ends |= set(range(first, end, split))
    return sorted(e for e in ends if begin < e <= end)


def _stamp(unix_seconds: float) -> str:
    return datetime.fromtimestamp(round(unix_seconds), UTC).strftime("%Y%m%dT%H%M%SZ")


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
