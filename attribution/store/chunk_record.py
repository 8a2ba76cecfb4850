"""What a written chunk leaves besides its rows: each interval's coverage, the collector's coverage summary
over its sources, and the chunk's log line, in one round trip to Postgres.

Why: a collection writes this three times a chunk (once per collector), in the transaction that holds
the chunk's rows. Sent as three statements, each waited for, and the coverage as an ``executemany`` of a
row per interval, the coverage alone was 6-13% of a small collection's interpreter time, and each wait
hands the interpreter lock to the threads parsing the next chunk, which then hold it up to the switch
interval (5 ms). Here the three go in one psycopg pipeline (one wait), the coverage as one
``INSERT ... SELECT`` over arrays sent as text (each interval's start is the window's start plus its
place), and the SQL is constant, so psycopg prepares it once per connection (docs/performance.md,
"Collection at bench-quick size (session 16)").

Elsewhere (SQLite: the demo and the tests), :func:`~attribution.store.collection_state.record_chunk`
writes the same rows through the general upsert; ``tests/store/test_chunk_record.py`` holds the two
to the same tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from attribution.store.session import driver_cursor

_UPSERT_COVERAGE = (
    "INSERT INTO source_coverage (collector, source, interval_start, cluster, status, series, rows, "
    "collected_at) SELECT %(collector)s, %(source)s, "
    "%(start)s + (k.place - 1) * make_interval(secs => %(step_seconds)s), %(cluster)s, k.status, k.series, "
    "k.rows, %(collected_at)s FROM unnest(CAST(%(statuses)s AS text[]), CAST(%(series)s AS int4[]), "
    "CAST(%(rows)s AS int4[])) WITH ORDINALITY AS k (status, series, rows, place) "
    "ON CONFLICT (collector, source, interval_start, cluster) DO UPDATE SET status = excluded.status, "
    "series = excluded.series, rows = excluded.rows, collected_at = excluded.collected_at"
)
_SUMMARY = (
    "INSERT INTO coverage (source, interval_start, series, cluster) "
    "SELECT collector, interval_start, sum(CASE WHEN status <> 'missing' THEN series ELSE 0 END), cluster "
    "FROM source_coverage WHERE collector = %(collector)s AND cluster = %(cluster)s "
    "AND interval_start BETWEEN %(start)s AND %(last)s GROUP BY collector, interval_start, cluster "
    "ON CONFLICT (source, interval_start, cluster) DO UPDATE SET series = excluded.series"
)
_LOG = (
    "INSERT INTO collection_log (collector, source, window_start, window_end, rows, mode, replica, "
    "committed_at, cluster) VALUES (%(collector)s, %(source)s, %(window_start)s, %(window_end)s, "
    "%(rows)s, %(mode)s, %(replica)s, %(committed_at)s, %(cluster)s)"
)
_WORD = re.compile(r"[a-z_]+")


def record_chunk_pg(session: Session, coverage: Mapping[str, Any], log: Mapping[str, Any]) -> None:
    """``coverage``: collector, source, cluster, start, step_seconds, last (the last interval's start),
    collected_at, and per interval its ``statuses``, ``series`` and ``rows``; ``log``: the log row. Times
    must be aware, as the tables' ``UTCDateTime`` columns require elsewhere (these statements bypass it)."""
    stamps = [coverage["start"], coverage["collected_at"], log["window_start"], log["window_end"]]
    if any(t.tzinfo is None for t in [*stamps, log["committed_at"]]):
        raise ValueError("naive datetime given for a timestamptz column; pass UTC-aware times")
    params = {
        **coverage,
        "statuses": _array(coverage["statuses"], words=True),
        "series": _array(coverage["series"]),
        "rows": _array(coverage["rows"]),
    }
    with driver_cursor(session) as cursor, cursor.connection.pipeline():
        cursor.execute(_UPSERT_COVERAGE, params)
        cursor.execute(_SUMMARY, params)
        cursor.execute(_LOG, log)


def _array(values: Iterable[Any], *, words: bool = False) -> str:
    """An array literal (``{a,b}``) of integers, or of lower-case words (statuses): text the driver sends
    as one value, where a list is dumped element by element."""
    items = [str(v) if words else str(int(v)) for v in values]
    if words and not all(_WORD.fullmatch(item) for item in items):
        raise ValueError("a status that is not a lower-case word")  # nothing to quote or escape
    return "{" + ",".join(items) + "}"
