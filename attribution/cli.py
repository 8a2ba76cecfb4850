"""The ``attribution`` command line."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from attribution.collectors.cli import collect_app
from attribution.config import Settings, load_settings
from attribution.errors import AttributionError
from attribution.scheduler import scheduler_command
from attribution.sim.cli import app as sim_app
from attribution.timeutil import iso, parse_instant, period_window

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
report_app = typer.Typer(no_args_is_help=True, help="Reports from stored results.")
app.add_typer(db_app, name="db")
period_app = typer.Typer(no_args_is_help=True, help="Billing periods: list, close.")
app.add_typer(report_app, name="report")
app.add_typer(period_app, name="period")
app.add_typer(collect_app, name="collect")
app.add_typer(sim_app, name="sim")
app.command("scheduler")(scheduler_command)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
#: Tables need room for nine columns even when stdout is a pipe (rich assumes 80 columns then).
table_console = Console(width=max(console.width, 130))


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _settings() -> Settings:
    return load_settings()


def _instant(value: str) -> datetime:
    return parse_instant(value)


StartOpt = Annotated[str, typer.Option("--start", help="ISO 8601 UTC, inclusive")]
EndOpt = Annotated[str, typer.Option("--end", help="ISO 8601 UTC, exclusive")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("demo-out"),
    days: Annotated[int, typer.Option(min=1, max=31)] = 7,
    seed: int = 0,
) -> None:
    """Simulate a cluster, load it into a local Prometheus, collect, attribute and print the chargeback."""
    from attribution.demo import run_demo
    from attribution.reports.render import tiers_table, to_table

    run = run_demo(out, days=days, seed=seed, say=lambda m: console.print(f"[dim]{m}[/dim]"))
    to_table(run.chargeback, table_console)
    tiers_table(run.tiers, table_console)
    console.print(f"wrote {out}/chargeback.csv, {out}/chargeback.json, {out}/tiers.csv and {out}/run.json")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from attribution.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print("database is at the latest revision")


@app.command()
def attribute(start: StartOpt, end: EndOpt) -> None:
    """Attribute stored telemetry for [start, end) with the memory-time model (replaces that window)."""
    from attribution.jobs.attribute import run_attribution
    from attribution.store.session import make_engine, make_sessionmaker

    settings = _settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    summary = run_attribution(settings, factory, _instant(start), _instant(end))
    console.print(
        f"attributed {iso(summary.start)} to {iso(summary.end)}: {summary.lines} lines, "
        f"{summary.total_usd_micros} micro-USD"
    )


@report_app.command("chargeback")
def report_chargeback(
    period: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    start: Annotated[str | None, typer.Option()] = None,
    end: Annotated[str | None, typer.Option()] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Per-tenant chargeback for a period (calendar month, UTC) or a window."""
    from attribution.reports.chargeback import build_chargeback
    from attribution.reports.render import to_csv, to_json, to_table
    from attribution.store.session import make_engine, make_sessionmaker
    from attribution.timeutil import align_window

    settings = _settings()
    if period is not None:
        s, e = period_window(period)
    elif start is not None and end is not None:
        s, e = _instant(start), _instant(end)
    else:
        raise typer.BadParameter("give --period YYYY-MM or both --start and --end")
    s, e = align_window(s, e, settings.interval_seconds, settings.max_window_days)
    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as session:
        cb = build_chargeback(session, s, e, settings.interval_seconds, settings.currency)
    if fmt is Format.table:
        to_table(cb, table_console)
    else:
        sys.stdout.write(to_csv(cb) if fmt is Format.csv else to_json(cb) + "\n")


def _factory(settings: Settings) -> Any:
    from attribution.store.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


@period_app.command("list")
def period_list() -> None:
    """Every known period with its status, total and content hash."""
    from sqlalchemy import select

    from attribution.store.tables import Period

    with _factory(_settings())() as session:
        for p in session.scalars(select(Period).order_by(Period.period)):
            total = "" if p.total_cents is None else f"{p.total_cents / 100:.2f}"
            console.print(f"{p.period}  {p.status:<6}  {total:>14}  {p.content_hash or ''}")


@period_app.command("close")
def period_close(
    period: Annotated[str, typer.Argument(help="YYYY-MM")],
    idempotency_key: Annotated[
        str | None, typer.Option(help="a retried close with the same key is safe")
    ] = None,
) -> None:
    """Freeze a period's statement (lines plus a content hash). Later changes become corrections."""
    from attribution.jobs.periods import close_period
    from attribution.store.session import unit_of_work

    settings = _settings()
    with unit_of_work(_factory(settings)) as session:
        row, closed_now = close_period(session, period, settings.interval_seconds, idempotency_key)
        verb = "closed" if closed_now else "was already closed"
        console.print(f"{period} {verb}: {row.total_cents} cents, sha256 {row.content_hash}")


@report_app.command("statement")
def report_statement(
    period: Annotated[str, typer.Option(help="YYYY-MM")],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """A period's statement: frozen if closed, provisional if open; usage and correction lines."""
    import json

    from attribution.reports.render import statement_table
    from attribution.reports.statement import build_statement

    with _factory(_settings())() as session:
        statement = build_statement(session, period)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(statement.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        statement_table(statement, table_console)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the reporting API."""
    import uvicorn

    from attribution.api.app import create_app

    uvicorn.run(create_app(_settings()), host=host, port=port)


def main() -> None:
    try:
        app()
    except AttributionError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
