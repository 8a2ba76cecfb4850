"""Coverage of a window: per collector and source, how many intervals were present, estimated, missing or
never collected, where the gaps are, and how many intervals have been attributed.

The evidence behind every ``__unmeasured__`` and estimated line (``source_coverage``, written by the
collectors in the same transaction as their data; ``cluster_costs``, one row per attributed interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.store import queries
from attribution.store.collection_state import CoverageStatus, SourceCoverage

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


@dataclass(frozen=True, slots=True)
class CoverageReport:
    start: datetime
    end: datetime
    interval_seconds: int
    intervals_in_window: int
    intervals_attributed: int
    sources: list[SourceCoverageSummary]

    @property
    def complete(self) -> bool:
        return self.intervals_attributed == self.intervals_in_window and all(
            s.missing == s.not_collected == 0 for s in self.sources
        )


def coverage_report(
    session: Session, start: datetime, end: datetime, interval_seconds: int
) -> CoverageReport:
    expected = int((end - start).total_seconds()) // interval_seconds
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in queries.source_coverage(session, start, end):
        counts.setdefault((str(r.collector), str(r.source)), {})[str(r.status)] = int(r.intervals)
    sources = []
    for (collector, source), by_status in sorted(counts.items()):
        recorded = sum(by_status.values())
        gaps, truncated = _gaps(session, collector, source, start, end, interval_seconds)
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
            )
        )
    _, attributed = queries.cluster_cost_usd_micros(session, start, end)
    return CoverageReport(start, end, interval_seconds, expected, attributed, sources)


def _gaps(
    session: Session, collector: str, source: str, start: datetime, end: datetime, interval_seconds: int
) -> tuple[list[Gap], bool]:
    """Runs of consecutive intervals that are not ``present``, in order, merged per status."""
    t = SourceCoverage
    rows = session.execute(
        select(t.interval_start, t.status)
        .where(
            t.collector == collector, t.source == source, t.interval_start >= start, t.interval_start < end
        )
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
