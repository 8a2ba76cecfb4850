"""Coverage of a window, the one truth behind ``attribution collect coverage``, ``GET /v1/coverage``, the
console and the period-close check: per collector and source, how many intervals were present,
estimated, missing (collected, no data) or never collected, where the gaps are, and how many intervals
have been attributed.

The sources expected are those with a watermark (the scheduler follows them: every interval of the
window not recorded for them was never collected, and counts as such) and those with any coverage row in
the window (a backfill). A database filled without collectors (imported rows) has neither and lists none.
A window is ``complete`` when every interval is attributed and no expected source has an interval it
never collected; ``missing`` intervals (the source answered without data, e.g. a Prometheus outage) are
final: their cost is on ``__unmeasured__``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.collection_state import (
    ATTRIBUTION,
    CoverageStatus,
    SourceCoverage,
    all_watermarks,
    source_coverage_by_cluster,
)
from attribution.store.inputs import engine_activity
from attribution.store.tables import DEFAULT_CLUSTER

#: Gap ranges listed per source at most; the counts are always complete.
MAX_GAPS = 100


@dataclass(frozen=True, slots=True)
class Gap:
    start: datetime
    end: datetime
    status: str
    """``missing`` (collected, no data), ``estimated`` (derived), ``unplaced`` (series not placed), or
    ``not_collected`` (no record)."""


@dataclass(frozen=True, slots=True)
class SourceCoverageSummary:
    collector: str
    source: str
    present: int
    estimated: int
    missing: int
    not_collected: int
    gaps: list[Gap] = field(default_factory=list)
    gaps_truncated: bool = False
    unplaced: int = 0
    """Intervals with series the collector could not place (their share is on ``__unmeasured__``)."""
    cluster: str = DEFAULT_CLUSTER


@dataclass(frozen=True, slots=True)
class PoolGatewayCoverage:
    """The gateway's coverage of one pool over the intervals its engines worked."""

    pool: str
    engine_active: int
    """Intervals in which the pool's engines showed work."""
    present: int
    """Of those, intervals with tenant usage from the gateway."""
    missing: int
    """Of those, intervals without: telemetry gaps, on ``__unmeasured__`` (final, like a source's
    ``missing``: they do not make a window incomplete)."""
    gaps: list[Gap] = field(default_factory=list)
    gaps_truncated: bool = False
    collector: str = "gateway"


@dataclass(frozen=True, slots=True)
class CoverageReport:
    start: datetime
    end: datetime
    interval_seconds: int
    intervals_in_window: int
    intervals_attributed: int
    sources: list[SourceCoverageSummary]
    pools: list[PoolGatewayCoverage] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every interval collected (by every expected source) and attributed."""
        return self.intervals_attributed == self.intervals_in_window and all(
            s.not_collected == 0 for s in self.sources
        )

    @property
    def not_collected(self) -> int:
        return sum(s.not_collected for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["complete"] = self.complete
        return body


def coverage_report(
    session: Session, start: datetime, end: datetime, interval_seconds: int
) -> CoverageReport:
    expected = int((end - start).total_seconds()) // interval_seconds
    counts: dict[tuple[str, str, str], dict[str, int]] = {
        (w.collector, w.source, w.cluster): {} for w in all_watermarks(session) if w.collector != ATTRIBUTION
    }
    for r in source_coverage_by_cluster(session, start, end):
        counts.setdefault((str(r.collector), str(r.source), str(r.cluster)), {})[str(r.status)] = int(
            r.intervals
        )
    sources = []
    for (collector, source, cluster), by_status in sorted(counts.items()):
        recorded = sum(by_status.values())
        gaps, truncated = _gaps(session, (collector, source, cluster), start, end, interval_seconds)
        sources.append(
            SourceCoverageSummary(
                collector,
                source,
                present=by_status.get(CoverageStatus.PRESENT.value, 0),
                estimated=by_status.get(CoverageStatus.ESTIMATED.value, 0),
                missing=by_status.get(CoverageStatus.MISSING.value, 0),
                not_collected=max(expected - recorded, 0),
                gaps=gaps,
                gaps_truncated=truncated,
                unplaced=by_status.get(CoverageStatus.UNPLACED.value, 0),
                cluster=cluster,
            )
        )
    _, attributed = cluster_cost_usd_micros(session, start, end)
    pools = pool_gateway_coverage(session, start, end, interval_seconds)
    return CoverageReport(start, end, interval_seconds, expected, attributed, sources, pools)


def never_collected(session: Session, start: datetime, end: datetime, interval_seconds: int) -> int:
    """The intervals of ``[start, end)`` that expected sources never collected, summed over the sources:
    :attr:`CoverageReport.not_collected` without the gaps, for the views that only say whether a window is
    complete (chargeback, statements, the console), so they agree with the period-close check."""
    expected = int((end - start).total_seconds()) // interval_seconds
    recorded = {
        (w.collector, w.source, w.cluster): 0 for w in all_watermarks(session) if w.collector != ATTRIBUTION
    }
    for r in source_coverage_by_cluster(session, start, end):
        key = (str(r.collector), str(r.source), str(r.cluster))
        recorded[key] = recorded.get(key, 0) + int(r.intervals)
    return sum(max(expected - n, 0) for n in recorded.values())


def pool_gateway_coverage(
    session: Session, start: datetime, end: datetime, interval_seconds: int
) -> list[PoolGatewayCoverage]:
    """Per pool whose engines worked in the window: intervals with and without gateway usage."""
    by_pool: dict[str, list[tuple[datetime, bool]]] = {}
    for r in engine_activity(session, start, end):
        by_pool.setdefault(str(r.pool), []).append((r.interval_start.astimezone(UTC), bool(r.has_usage)))
    step = timedelta(seconds=interval_seconds)
    out = []
    for pool, rows in sorted(by_pool.items()):
        gaps: list[Gap] = []
        truncated = False
        for t0, has_usage in rows:  # in interval order
            if has_usage:
                continue
            if gaps and gaps[-1].end == t0:
                gaps[-1] = Gap(gaps[-1].start, t0 + step, CoverageStatus.MISSING.value)
            elif len(gaps) >= MAX_GAPS:
                truncated = True
            else:
                gaps.append(Gap(t0, t0 + step, CoverageStatus.MISSING.value))
        missing = sum(1 for _, has_usage in rows if not has_usage)
        out.append(PoolGatewayCoverage(pool, len(rows), len(rows) - missing, missing, gaps, truncated))
    return out


def _gaps(
    session: Session, key: tuple[str, str, str], start: datetime, end: datetime, interval_seconds: int
) -> tuple[list[Gap], bool]:
    """Runs of consecutive intervals that are not ``present`` of one (collector, source, cluster), in
    order, merged per status."""
    t = SourceCoverage
    collector, source, cluster = key
    rows = session.execute(
        select(t.interval_start, t.status)
        .where(t.collector == collector, t.source == source, t.cluster == cluster)
        .where(t.interval_start >= start, t.interval_start < end)
        .order_by(t.interval_start)
    ).all()
    step = timedelta(seconds=interval_seconds)
    status_at = {r[0].astimezone(UTC): str(r[1]) for r in rows}
    gaps: list[Gap] = []
    t0 = start
    while t0 < end:
        status = status_at.get(t0, "not_collected")
        if status != CoverageStatus.PRESENT.value:
            if gaps and gaps[-1].end == t0 and gaps[-1].status == status:
                gaps[-1] = Gap(gaps[-1].start, t0 + step, status)
            elif len(gaps) >= MAX_GAPS:
                return gaps, True
            else:
                gaps.append(Gap(t0, t0 + step, status))
        t0 += step
    return gaps, False
