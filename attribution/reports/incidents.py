"""The incident list: recovery incidents of a window, with what their intervals cost.

Each attribution window stores the part of an incident inside it; here the parts of one pool that touch
(one ends where the next starts) are joined into one incident, their costs added, so an outage across an
hour boundary is listed once. Money is integer micro-USD.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from attribution.model.incidents import CAUSES
from attribution.reports.insights_render import plain
from attribution.store import incidents as store
from attribution.store.tables import RecoveryIncident
from attribution.timeutil import iso


@dataclass(frozen=True, slots=True)
class IncidentView:
    pool: str
    start: datetime
    end: datetime
    duration_seconds: int
    cause: str
    gpu_count: int
    gpus: list[str]
    cost_usd_micros: int


@dataclass(frozen=True, slots=True)
class IncidentList:
    start: datetime
    end: datetime
    pool: str | None
    incidents: list[IncidentView]
    total_cost_usd_micros: int


def incident_list(session: Session, start: datetime, end: datetime, pool: str | None = None) -> IncidentList:
    """The incidents overlapping ``[start, end)`` (whole: an incident is not cut at the window's edges),
    by start then pool."""
    views = join_parts(store.incidents(session, start, end, pool))
    return IncidentList(start, end, pool, views, sum(v.cost_usd_micros for v in views))


def join_parts(rows: list[RecoveryIncident]) -> list[IncidentView]:
    """One view per run of touching parts of one pool, sorted by start then pool."""
    by_pool: dict[str, list[RecoveryIncident]] = {}
    for row in sorted(rows, key=lambda r: (r.pool, r.start_at)):
        by_pool.setdefault(row.pool, []).append(row)
    views: list[IncidentView] = []
    for parts in by_pool.values():
        run = [parts[0]]
        for row in parts[1:]:
            if row.start_at == run[-1].end_at:
                run.append(row)
            else:
                views.append(_view(run))
                run = [row]
        views.append(_view(run))
    return sorted(views, key=lambda v: (v.start, v.pool))


def _view(run: list[RecoveryIncident]) -> IncidentView:
    gpus = sorted({g for r in run for g in r.gpu_uuids.split(",") if g})
    causes = {c for r in run for c in r.cause.split(",")}
    return IncidentView(
        pool=run[0].pool,
        start=run[0].start_at,
        end=run[-1].end_at,
        duration_seconds=int((run[-1].end_at - run[0].start_at).total_seconds()),
        cause=",".join([c for c in CAUSES if c in causes] + sorted(causes - set(CAUSES))),
        gpu_count=len(gpus),
        gpus=gpus,
        cost_usd_micros=sum(r.cost_usd_micros for r in run),
    )


def to_json(report: IncidentList) -> str:
    return json.dumps(plain(report), indent=2)


def show(report: IncidentList, *, as_json: bool, console: Console) -> None:
    """The CLI's output: JSON on stdout, or a table."""
    if as_json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        incidents_table(report, console)


def incidents_table(report: IncidentList, console: Console) -> None:
    table = Table(title=f"Recovery incidents {iso(report.start)} to {iso(report.end)}")
    for name in ("pool", "start", "end", "minutes", "cause", "GPUs", "cost USD"):
        table.add_column(name, justify="right" if name in ("minutes", "GPUs", "cost USD") else "left")
    for v in report.incidents:
        table.add_row(
            v.pool,
            iso(v.start),
            iso(v.end),
            f"{v.duration_seconds / 60:g}",
            v.cause,
            str(v.gpu_count),
            _usd(v.cost_usd_micros),
        )
    console.print(table)
    console.print(f"{len(report.incidents)} incident(s), {_usd(report.total_cost_usd_micros)} USD")


def _usd(micros: int) -> str:
    """Exact: integer dollars and six decimals, no float on the way."""
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    return f"{sign}{micros // 1_000_000:,}.{micros % 1_000_000:06d}"
