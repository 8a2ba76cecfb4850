"""``attribution collect``: backfill a window with a progress bar; ``status`` and ``coverage`` subcommands.

Wired into the top-level app with ``app.add_typer(collect_app, name="collect")``. ``status`` and
``coverage`` print plain, space-aligned columns that never wrap or cut (``kubectl exec`` without a terminal
gives 80 columns, at which a rich table truncates), or JSON with ``--format json``. Coverage comes from
:func:`attribution.store.coverage.coverage_report`, as the API's and the period-close check's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from attribution.collectors.profiles import plans
from attribution.collectors.run import collect_window
from attribution.config import CollectorName, Settings, load_settings
from attribution.store.collection_state import all_watermarks
from attribution.store.coverage import coverage_report
from attribution.store.session import make_engine, make_sessionmaker
from attribution.timeutil import align_window, floor_to, iso, parse_instant

collect_app = typer.Typer(help="Collect telemetry from the configured sources into the database.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="only this source (repeatable)")]
CollectorOpt = Annotated[
    list[CollectorName] | None, typer.Option("--collector", help="only this collector (repeatable)")
]


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="text (aligned columns) or json")]


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, every value whole whatever the terminal's width."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def _cell(value: Any) -> str:
    """One value on one line: instants in ISO 8601, nothing as ``-``."""
    if value is None or value == "":
        return "-"
    return iso(value) if isinstance(value, datetime) else str(value).replace("\n", " ")


def _json(body: Any) -> str:
    return json.dumps(body, default=lambda v: iso(v) if isinstance(v, datetime) else str(v), indent=2)


@collect_app.callback(invoke_without_command=True)
def collect(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601 UTC, inclusive")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601 UTC, exclusive")] = None,
    source: SourceOpt = None,
    collector: CollectorOpt = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="only this cluster (default: every configured cluster)")
    ] = None,
) -> None:
    """Backfill [start, end) from every source of every cluster, or of ``--cluster`` (idempotent: a window
    collected twice is stored once)."""
    if ctx.invoked_subcommand is not None:
        return
    if start is None or end is None:
        raise typer.BadParameter("give --start and --end, or a subcommand: status, coverage")
    root = load_settings()
    for settings in root.selected_clusters(cluster):
        _collect(settings, start, end, source, collector, named=bool(root.clusters))


def _collect(
    settings: Settings,
    start: str,
    end: str,
    source: list[str] | None,
    collector: list[CollectorName] | None,
    *,
    named: bool,
) -> None:
    selected = plans(settings, collector, source)
    s, e = align_window(
        parse_instant(start), parse_instant(end), settings.interval_seconds, settings.max_window_days
    )
    now = floor_to(datetime.now(UTC), settings.interval_seconds)
    if e > now:
        raise typer.BadParameter(
            f"{end} ends in the future (the last whole interval ends at {iso(now)}); the scheduler collects "
            f"the present: give an --end at or before {iso(now)}",
            param_hint="--end",
        )
    factory = make_sessionmaker(make_engine(settings.database_url))
    bar = (TextColumn("collecting"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*bar, console=err, transient=True) as progress:
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
    prefix = f"{settings.cluster}: " if named else ""
    console.print(
        f"{prefix}collected {iso(s)} to {iso(e)} from {names}: {result.rows_by_table}, "
        f"{result.chunks} chunk(s)"
    )


@collect_app.command("status")
def status(fmt: FormatOpt = OutputFormat.text) -> None:
    """Each collector's watermark per source, its lag and its last error."""
    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    now = datetime.now(UTC)
    with factory() as session:
        found = [
            {
                "collector": w.collector,
                "source": w.source,
                "watermark": w.watermark,
                "lag_seconds": round((now - w.watermark).total_seconds()),
                "last_success_at": w.last_success_at,
                "consecutive_failures": w.consecutive_failures,
                "last_error": w.last_error,
            }
            for w in all_watermarks(session)
        ]
    if fmt is OutputFormat.json:
        typer.echo(_json({"now": now, "watermarks": found}))
        return
    header = ["collector", "source", "watermark", "lag_seconds", "last_success_at", "consecutive_failures"]
    header.append("last_error")
    rows = [[_cell(w[k]) for k in header] for w in found]
    typer.echo(columns(header, rows))


@collect_app.command("coverage")
def coverage(
    start: Annotated[str, typer.Option("--start", help="ISO 8601 UTC, inclusive")],
    end: Annotated[str, typer.Option("--end", help="ISO 8601 UTC, exclusive")],
    collector: Annotated[CollectorName | None, typer.Option("--collector")] = None,
    fmt: FormatOpt = OutputFormat.text,
) -> None:
    """Per source, the intervals of [start, end) present, estimated, missing (no data), unplaced (series
    not placed) and never collected, and how many are attributed: what the API's /v1/coverage and the
    period-close check count. Per pool, how many intervals its engines worked with the gateway's usage
    (present) or without (missing: a telemetry gap, billed to __unmeasured__)."""
    settings = load_settings()
    s, e = align_window(
        parse_instant(start), parse_instant(end), settings.interval_seconds, settings.max_window_days
    )
    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as session:
        report = coverage_report(session, s, e, settings.interval_seconds)
    body = report.to_dict()
    if collector is not None:
        body["sources"] = [x for x in body["sources"] if x["collector"] == collector.value]
    if fmt is OutputFormat.json:
        typer.echo(_json(body))
        return
    if collector not in (None, CollectorName.GATEWAY):
        body["pools"] = []
    header = ["collector", "source", "present", "estimated", "missing", "unplaced", "not_collected"]
    fields = header[2:]
    rows = [[x["collector"], x["source"], *(str(x[f]) for f in fields)] for x in body["sources"]]
    # per pool, where its engines worked: with the gateway's usage (present) or without (missing: a gap)
    rows += [
        ["gateway", f"pool:{x['pool']}(engine-working)", str(x["present"]), "-", str(x["missing"]), "-", "-"]
        for x in body["pools"]
    ]
    typer.echo(columns(header, rows))
    typer.echo(
        f"{iso(s)} to {iso(e)}: {report.intervals_attributed} of {report.intervals_in_window} intervals "
        f"attributed; complete: {'yes' if report.complete else 'no'}"
    )
