"""Rows a re-collection deletes before it writes: what an upsert by primary key cannot overwrite.

An upsert replaces the rows a new reading has; it leaves alone those the new reading no longer has. A GPU
read again as other parts (a whole GPU now shared, an unplaced series now placed) would keep its old parts
(:func:`clear_gpu_parts`). The delete runs in the caller's transaction, locking rows in key order (the
order of every writer), and probes first, so a window collected for the first time costs one index probe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from attribution.store.dialect import is_postgres
from attribution.store.expressions import table_of
from attribution.store.tables import DEFAULT_CLUSTER, GpuSample
from attribution.store.writes import BATCH_ROWS, COPY_MIN_ROWS


def clear_gpu_parts(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the stored parts of every (interval, GPU) in ``rows`` before they are upserted: a GPU read
    again as other parts (a whole GPU now shared, an unplaced series now placed) must not keep its old
    parts, whose shares would count the GPU twice. GPUs absent from ``rows`` keep their rows, and so do
    other clusters' (two simulated clusters may well name their GPUs alike)."""
    t = table_of(GpuSample)
    by_interval: dict[tuple[Any, str], set[str]] = {}
    for r in rows:
        key = (r["interval_start"], str(r.get("cluster", DEFAULT_CLUSTER)))
        by_interval.setdefault(key, set()).add(r["gpu_uuid"])
    clusters = {cluster for _start, cluster in by_interval}
    if is_postgres(session) and len(rows) >= COPY_MIN_ROWS and len(clusters) == 1:
        starts = [start for start, _cluster in by_interval]

        def keys() -> list[tuple[int, str]]:
            return sorted((round(s.timestamp()), u) for (s, _c), uuids in by_interval.items() for u in uuids)

        _clear_gpu_parts_pg(session, (min(starts), max(starts)), keys, clusters.pop())
        return
    for start, cluster in sorted(by_interval):  # one order for every writer
        uuids = sorted(by_interval[start, cluster])
        for i in range(0, len(uuids), BATCH_ROWS):
            where = (t.c.interval_start == start, t.c.gpu_uuid.in_(uuids[i : i + BATCH_ROWS]))
            session.execute(delete(t).where(*where, t.c.cluster == cluster))


def clear_gpu_columns(session: Session, starts: Sequence[int], uuids: Sequence[str], cluster: str) -> None:
    """:func:`clear_gpu_parts` for rows given as columns, all of ``cluster``: each row's interval start
    (unix seconds) and GPU. On Postgres the keys are listed only if the probe finds rows to clear."""
    if not (is_postgres(session) and len(starts) >= COPY_MIN_ROWS):
        at = {s: datetime.fromtimestamp(s, tz=UTC) for s in set(starts)}
        pairs = zip(starts, uuids, strict=True)
        rows = [{"interval_start": at[s], "gpu_uuid": u, "cluster": cluster} for s, u in pairs]
        clear_gpu_parts(session, rows)
        return
    low, high = (datetime.fromtimestamp(s, tz=UTC) for s in (min(starts), max(starts)))
    _clear_gpu_parts_pg(session, (low, high), lambda: sorted(set(zip(starts, uuids, strict=True))), cluster)


def _clear_gpu_parts_pg(
    session: Session, span: tuple[datetime, datetime], keys: Callable[[], list[tuple[int, str]]], cluster: str
) -> None:
    """:func:`clear_gpu_parts` in at most two statements. An index probe first (``span``: the first and
    last interval start): a window collected for the first time has nothing to clear. Else one DELETE,
    the (interval, GPU) ``keys`` (unix seconds, sorted) travelling as two arrays (epoch seconds and
    text, which the driver sends far faster than timestamps), the rows locked in key order first
    (``ORDER BY ... FOR UPDATE``, the order of every writer), so two collections of overlapping windows
    wait for each other rather than deadlock. It was one DELETE per interval. Only ``cluster``'s rows:
    another cluster may name its GPUs alike. The keys are listed only once the probe found rows (a window
    collected for the first time sorted 61,440 of them at fleet size for nothing).

    The DELETE joins the locked rows by key, not by ``ctid``: a ``ctid`` names a row within one table,
    and on the monthly partitions (deploy/postgres/partitioning.sql) ``ctid = ANY(...)`` deleted the rows
    at the same place of every other month's partition as well (tests/deploy/test_partitioned_clears.py).
    Both sides are bounded to ``span``, so the planner prunes the months outside it."""
    probe = "SELECT EXISTS (SELECT 1 FROM gpu_samples WHERE interval_start BETWEEN :low AND :high)"
    if not session.execute(text(probe), {"low": span[0], "high": span[1]}).scalar():
        return
    found = keys()
    statement = text(
        "DELETE FROM gpu_samples AS d USING (SELECT g.interval_start, g.gpu_uuid, g.part "
        "FROM gpu_samples AS g JOIN unnest(CAST(:starts AS int8[]), CAST(:uuids AS text[])) AS k (s, u) "
        "ON g.interval_start = to_timestamp(k.s) AND g.gpu_uuid = k.u AND g.cluster = :cluster "
        "WHERE g.interval_start BETWEEN :low AND :high "
        "ORDER BY g.interval_start, g.gpu_uuid, g.part FOR UPDATE OF g) AS x "
        "WHERE d.interval_start = x.interval_start AND d.gpu_uuid = x.gpu_uuid AND d.part = x.part "
        "AND d.cluster = :cluster AND d.interval_start BETWEEN :low AND :high"
    )
    params = {"starts": [k[0] for k in found], "uuids": [k[1] for k in found], "cluster": cluster}
    params |= {"low": span[0], "high": span[1]}
    session.execute(statement, params)
