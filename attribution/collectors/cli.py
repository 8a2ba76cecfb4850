"""``attribution collect``: backfill a window with a progress bar; ``status`` and ``coverage`` subcommands.

Wired into the top-level app with ``app.add_typer(collect_app, name="collect")``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from attribution.collectors.profiles import plans
from attribution.collectors.run import collect_window
from attribution.config import CollectorName, load_settings
from attribution.store import queries
from attribution.store.session import make_engine, make_sessionmaker
from attribution.timeutil import align_window, iso, parse_instant

collect_app = typer.Typer(help="Collect telemetry from the configured sources into the database.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="only this source (repeatable)")]
CollectorOpt = Annotated[
    list[CollectorName] | None, typer.Option("--collector", help="only this collector (repeatable)")
]


@collect_app.callback(invoke_without_command=True)
def collect(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601 UTC, inclusive")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601 UTC, exclusive")] = None,
    source: SourceOpt = None,
    collector: CollectorOpt = None,
) -> None:
    """Backfill [start, end) from every source (idempotent: a window collected twice is stored once)."""
    if ctx.invoked_subcommand is not None:
        return
    if start is None or end is None:
        raise typer.BadParameter("give --start and --end, or a subcommand: status, coverage")
    settings = load_settings()
    selected = plans(settings, collector, source)
    s, e = align_window(
        parse_instant(start), parse_instant(end), settings.interval_seconds, settings.max_window_days
    )
    factory = make_sessionmaker(make_engine(settings.database_url))
    columns = (TextColumn("collecting"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("collecting", total=(e - s).total_seconds())
        result = collect_window(
            None,
            settings,
            factory,
            s,
            e,
            progress=lambda a, b: progress.advance(task, (b - a).total_seconds()),
            selected=selected,
        )
    names = ", ".join(f"{p.collector.value}@{p.source.name}" for p in selected)
    console.print(
        f"collected {iso(s)} to {iso(e)} from {names}: {result.rows_by_table}, {result.chunks} chunk(s)"
    )


@collect_app.command("status")
def status() -> None:
    """Each collector's watermark per source, its lag and its last error."""
    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    now = datetime.now(UTC)
    table = Table("collector", "source", "watermark", "lag (s)", "last success", "failures", "last error")
    with factory() as session:
        for w in queries.all_watermarks(session):
            table.add_row(
                w.collector,
                w.source,
                iso(w.watermark),
                f"{(now - w.watermark).total_seconds():.0f}",
                iso(w.last_success_at) if w.last_success_at else "-",
                str(w.consecutive_failures),
                (w.last_error or "")[:80],
            )
    console.print(table)


@collect_app.command("coverage")
def coverage(
    start: Annotated[str, typer.Option("--start", help="ISO 8601 UTC, inclusive")],
    end: Annotated[str, typer.Option("--end", help="ISO 8601 UTC, exclusive")],
    collector: Annotated[CollectorName | None, typer.Option("--collector")] = None,
) -> None:
    """How many intervals of [start, end) each source had present, missing or estimated; per pool, how
    many intervals its engines worked with the gateway's usage (present) or without (missing: a gap)."""
    settings = load_settings()
    s, e = align_window(
        parse_instant(start), parse_instant(end), settings.interval_seconds, settings.max_window_days
    )
    factory = make_sessionmaker(make_engine(settings.database_url))
    table = Table("collector", "source", "status", "intervals")
    with factory() as session:
        for row in queries.source_coverage(session, s, e, collector.value if collector else None):
            table.add_row(row.collector, row.source, row.status, str(row.intervals))
        if collector in (None, CollectorName.GATEWAY):
            # per pool, where its engines worked: with the gateway's usage (present) or without (missing)
            counts: dict[tuple[str, str], int] = {}
            for r in queries.engine_activity(session, s, e):
                key = (str(r.pool), "present" if r.has_usage else "missing")
                counts[key] = counts.get(key, 0) + 1
            for (pool, status), n in sorted(counts.items()):
                table.add_row("gateway", f"pool {pool} (engine working)", status, str(n))
    console.print(table)
