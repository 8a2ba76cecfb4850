"""The attribution job: stored telemetry for a window in, stored lines for that window out.

A run replaces the window's lines, pool costs and cluster costs in one transaction, so re-running it
changes nothing and a failure leaves the previous results intact. It checks conservation before writing:
the lines must sum exactly to the cluster's bill for the window.

It never attributes an interval that has not been collected: the window stops at the earliest watermark
of the collectors the scheduler follows (:func:`attributable_until`), and never passes the present. The
hour being collected is a partial settlement window and a partial line (``covered_seconds`` below the
grain): it is settled over the intervals collected so far and replaced, whole, by every later run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.errors import ConservationError
from attribution.ledger.close import ensure_period, issue_corrections, period_of, periods_between
from attribution.ledger.heap import return_free_memory
from attribution.ledger.incidents import clear_incidents, flag_recovering, record_incidents
from attribution.ledger.lines import line_rows, total_usd_micros
from attribution.ledger.outputs import covered_seconds, line_columns, pool_columns
from attribution.ledger.watermark import followed_plans
from attribution.ledger.window_reads import WindowReads, read_window
from attribution.model.attribute import PeriodScope, Policies, Reservation
from attribution.model.incidents import Incident
from attribution.model.vectorized import attribute_columns
from attribution.model.vectorized_pools import PoolResults
from attribution.model.vocabulary import IdleKind, IdlePolicy, SettlementWindow
from attribution.store.collection_state import (
    all_watermarks,
    clear_dirty,
    intervals_covered_by_all,
    intervals_with_status,
)
from attribution.store.column_copy import replace_window_columns
from attribution.store.columns import tune_for_scans
from attribution.store.rollups import refresh_rollups
from attribution.store.session import unit_of_work
from attribution.store.settlement import non_idle_weights_outside
from attribution.store.tables import AttributedCost, AttributionRun, ClusterCost, Period, PoolCost
from attribution.store.writes import insert_all, replace_window
from attribution.timeutil import align_window, floor_to, period_window

WINDOW_SECONDS = {SettlementWindow.HOUR: 3600, SettlementWindow.DAY: 86400}

EARLY_READS_MAX_USAGE_ROWS = 5_000_000
"""Below this many usage rows a run begins the next window's reads before its engine, not after, so that
they overlap the engine's hardest seconds as well as the writes. Above it the next reads wait for the
engine's columns to be freed, so a run's peak is its engine's alone. It is the scheduler's default
window budget (``scheduler.attribution_max_usage_rows``), so the windows it cuts read ahead beside their
engine. A full-fleet day is 4.3 M rows: its reads beside the engine took a day from 13 s to 10.5 s,
with the job's peak at 1,517-1,749 MiB (1,347 MiB with the reads after the engine; session 15,
docs/performance.md); a window of 5 M rows would peak about a sixth higher. At 1 M, the bound until
then, the full fleet's reads waited and left Postgres idle through the engine. The reads afford it by
letting go of each column as they assemble it, and the heap's trimmer (:mod:`attribution.ledger.heap`)."""


@dataclass(frozen=True, slots=True)
class AttributionSummary:
    start: datetime
    end: datetime
    lines: int
    total_usd_micros: int
    cluster_cost_usd_micros: int
    correction_lines: int = 0
    attributed_until: datetime | None = None
    """Where the lines stop: ``end``, or earlier where collection has not reached (None: nothing)."""
    read_period: bool = False
    """Whether some idle was settled by its period's weights, which include the stored lines of the
    period's intervals outside this run (:attr:`~attribution.model.vectorized_lines.LineColumns.read_period`):
    a run after those lines change may settle it differently."""


def settlement_seconds(settings: Settings) -> int | None:
    """The length of a settlement window, over which idle is shared; None: the whole period."""
    window = settings.policies.settlement_window
    if window is SettlementWindow.PERIOD:
        return None
    return settings.interval_seconds if window is SettlementWindow.INTERVAL else WINDOW_SECONDS[window]


def policies(settings: Settings) -> Policies:
    seconds = settlement_seconds(settings)
    reservations: dict[str, list[Reservation]] = {}
    for r in settings.reservations:
        reservations.setdefault(r.pool, []).append(
            Reservation(
                r.tenant,
                r.fraction_ppm,
                int(r.effective_from.timestamp()),
                int(r.effective_to.timestamp()) if r.effective_to else None,
            )
        )
    cluster_idle = settings.policies.idle
    return Policies(
        idle_by_pool={p.name: settings.idle_policy(p) for p in settings.pools},
        cluster_idle=IdlePolicy.SHARE if cluster_idle is IdlePolicy.RESERVED else cluster_idle,
        settlement_window_seconds=seconds,
        reservations_by_pool=reservations,
        idle_kinds_by_pool={
            p.name: {
                IdleKind.WARM: settings.idle_warm_policy(p),
                IdleKind.HEADROOM: settings.kv_headroom_policy(p),
            }
            for p in settings.pools
        },
        cold_idle=settings.idle_cold_policy(),
        recovery=settings.policies.recovery,
    )


def settlement_window(settings: Settings, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` widened to whole settlement windows: idle is settled over all of one, so a run
    must recompute every interval of each window it touches; and to whole line grains, since a stored
    line sums every interval of its grain."""
    start, end = align_window(start, end, settings.interval_seconds, settings.max_window_days)
    step = settlement_seconds(settings)
    if step is None:
        periods = periods_between(start, end)
        return period_window(periods[0])[0], period_window(periods[-1])[1]
    step = max(step, settings.line_grain_seconds)  # both divide an hour or are whole days: one aligns both
    return align_window(start, end, step, settings.max_window_days + 1)


def period_scope(session: Session, start: datetime, end: datetime, cluster: str) -> PeriodScope:
    """The calendar months of the window, with the cluster's stored weights of their intervals outside it."""
    outside = {}
    for period in periods_between(start, end):
        p_start, p_end = period_window(period)
        outside[period] = non_idle_weights_outside(session, p_start, p_end, start, end, cluster)
    return PeriodScope(period_of_seconds, outside)


def period_of_seconds(ts: int) -> str:
    return period_of(datetime.fromtimestamp(ts, tz=UTC))


def attributable_until(
    session: Session, settings: Settings, end: datetime, now: datetime | None = None
) -> datetime:
    """The end of what may be attributed, up to ``end``: the earliest watermark of the followed collectors
    that have one (a backfill-only database has none), extended over the intervals right after it that a
    backfill collected from every one of them; never past the last whole interval before ``now``."""
    step = settings.interval_seconds
    limit = min(end, floor_to(now or datetime.now(UTC), step))
    followed = followed_plans(settings)
    marks = {(w.collector, w.source): w.watermark for w in all_watermarks(session, settings.cluster)}
    found = [marks[p.key] for p in followed if p.key in marks]
    until = min([limit, *found])
    if until < limit and followed:
        keys = [p.key for p in followed]
        covered = intervals_covered_by_all(session, keys, until, limit, settings.cluster)
        while until < limit and until in covered:
            until += timedelta(seconds=step)
    return until


def settled_until(
    session: Session, settings: Settings, start: datetime, widened_end: datetime, now: datetime | None
) -> datetime:
    """Where a run of the settlement windows ``[start, widened_end)`` stops: where collection has reached
    (:func:`attributable_until`), or the end of a closed period it reaches into (:func:`closed_until`);
    ``start`` if neither lets it begin. A run and the reads made ahead of it compute it alike."""
    end = max(start, attributable_until(session, settings, widened_end, now))
    return max(end, closed_until(session, start, widened_end))


def closed_until(session: Session, start: datetime, end: datetime) -> datetime:
    """The end of the last closed period that ``[start, end)`` reaches into, capped at ``end`` (``start``
    if none): a closed period was complete when it closed, so a watermark behind it (a source added later,
    a reset) must not cut its lines short, which would bill their negative as corrections."""
    found = start
    for name in periods_between(start, end):
        row = session.get(Period, name)
        if row is not None and row.status == "closed":
            found = max(found, min(period_window(name)[1], end))
    return found


def clear_beyond(session: Session, start: datetime, end: datetime, cluster: str) -> None:
    """Drop the cluster's lines, pool and cluster costs of ``[start, end)``: intervals not collected yet,
    where an earlier run (or an older version) may have billed them ahead of time."""
    if start < end:
        for model in (AttributedCost, PoolCost, ClusterCost):
            replace_window(session, model, start, end, [], cluster=cluster)
        refresh_rollups(session, start, end, cluster)
        clear_incidents(session, start, end, cluster)


def run_attribution(
    settings: Settings,
    factory: sessionmaker[Session],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    reads: WindowReads | None = None,
    read_next: Callable[[], object] | None = None,
) -> AttributionSummary:
    """Recompute the lines of every settlement window that ``[start, end)`` touches, up to where the
    collectors have committed (:func:`attributable_until`); what lies past that is left unbilled.
    ``now`` (default: the clock) is for replaying a history whose dates lie ahead of the clock.

    ``reads``: this window's reads, made ahead (:mod:`attribution.ledger.span`); used only if they are
    of the window this run settles, else read here. ``read_next`` is called once the engine is done (at
    once for a window of fewer than :data:`EARLY_READS_MAX_USAGE_ROWS` usage rows), so
    that the next window's reads overlap this one's writes."""
    start, widened_end = settlement_window(settings, start, end)
    cluster = settings.cluster
    with unit_of_work(factory) as session:
        end = settled_until(session, settings, start, widened_end, now)
        clear_beyond(session, end, widened_end, cluster)
        if end == start:
            return AttributionSummary(start, widened_end, 0, 0, 0, 0, None)
        tune_for_scans(session)
        if reads is None or (reads.start, reads.end) != (start, end):
            reads = read_window(settings, factory, session, start, end)
        redone, inputs, usage = reads.redone, reads.inputs, reads.usage
        if read_next is not None and len(usage.interval_start_s) < EARLY_READS_MAX_USAGE_ROWS:
            read_next()  # a small window: the next one's reads overlap this one's engine too
            read_next = None
        incidents = reads.incidents
        del reads  # the GPU counts and KV samples end here, before the engine's columns begin
        return_free_memory()  # the reads' free heap: the engine's peak would stack on it
        flag_recovering(inputs.pools, incidents, settings.interval_seconds)
        columns, results = attribute_columns(
            inputs.pools,
            inputs.cluster_intervals,
            policies(settings),
            period_scope(session, start, end, cluster),
            usage,
        )
        cluster_total = sum(r["cost_usd_micros"] for r in inputs.cluster_cost_rows)
        lines_total = total_usd_micros(columns)
        if lines_total != cluster_total:
            raise ConservationError(f"lines sum to {lines_total} micro-USD, the bill to {cluster_total}")
        # usage spread over a gap, or estimated from latency or mean context: its lines are estimated
        spread = intervals_with_status(session, "gateway", "missing", start, end, cluster)
        spread |= intervals_with_status(session, "gateway", "estimated", start, end, cluster)
        estimated = results.estimated_keys()  # the lines read only which pool-intervals were estimated
        grain = settings.line_grain_seconds
        lines = line_rows(columns, estimated, usage, inputs.bytes_per_token, grain, spread)
        n_lines = len(lines)
        read_period = columns.read_period
        line_values = line_columns(lines, covered_seconds(lines.interval_start_s, grain, end), cluster)
        del columns, usage, lines  # only what is written is kept from here on
        return_free_memory()  # the engine's free heap, which the next reads (another thread) cannot reuse
        if read_next is not None:  # the engine's columns and the usage are freed: the next reads may begin
            read_next()
        for row in inputs.cluster_cost_rows:
            row["cluster"] = cluster
        replace_window_columns(session, AttributedCost, start, end, line_values, n_lines, cluster=cluster)
        del line_values
        refresh_rollups(session, start, end, cluster)  # the touched days, from their lines, in this run
        pool_values = pool_columns(results, inputs, cluster)
        replace_window_columns(session, PoolCost, start, end, pool_values, len(results), cluster=cluster)
        del pool_values
        replace_window(session, ClusterCost, start, end, inputs.cluster_cost_rows, cluster=cluster)
        costs = _incident_costs(results, incidents)
        record_incidents(session, settings, start, end, incidents, costs)  # with the costs above
        for period in periods_between(start, end):
            ensure_period(session, period)
        corrections = issue_corrections(session, start, end)
        clear_dirty(session, redone)
        insert_all(
            session,
            AttributionRun,
            [
                {
                    "ran_at": datetime.now(UTC),
                    "cluster": cluster,
                    "window_start": start,
                    "window_end": end,
                    "lines": n_lines,
                    "total_usd_micros": cluster_total,
                }
            ],
        )
    return AttributionSummary(
        start, end, n_lines, lines_total, cluster_total, corrections, end, read_period=read_period
    )


def _incident_costs(results: PoolResults, incidents: Sequence[Incident]) -> dict[tuple[str, int], int]:
    """The cost of each pool-interval of the incidents' pools, by (pool, start in Unix seconds)."""
    code = {name: i for i, name in enumerate(results.pools)}
    wanted = [code[i.pool] for i in incidents if i.pool in code]
    rows = np.flatnonzero(np.isin(results.pool, wanted))
    pool, start, cost = (a[rows].tolist() for a in (results.pool, results.start, results.cost))
    return {(results.pools[p], s): c for p, s, c in zip(pool, start, cost, strict=True)}
