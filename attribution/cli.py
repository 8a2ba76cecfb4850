"""The ``attribution`` command line."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console

from attribution.collectors.cli import collect_app
from attribution.config import Settings, load_settings
from attribution.errors import AttributionError, InvalidWindowError
from attribution.scheduler import scheduler_command
from attribution.sim.cli import app as sim_app
from attribution.timeutil import iso, parse_instant, parse_period, period_window

#: Plain help (no rich boxes): rich help printed a ``<bool>`` metavar beside every flag.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
report_app = typer.Typer(no_args_is_help=True, help="Reports from stored results.")
app.add_typer(db_app, name="db")
period_app = typer.Typer(no_args_is_help=True, help="Billing periods: list, close.")
app.add_typer(report_app, name="report")
app.add_typer(period_app, name="period")
app.add_typer(collect_app, name="collect")
app.add_typer(sim_app, name="sim")
app.command("scheduler")(scheduler_command)
config_app = typer.Typer(no_args_is_help=True, help="The settings: the generated reference.")
app.add_typer(config_app, name="config")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the reporting API: create, list, revoke.")
app.add_typer(keys_app, name="keys")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
#: Tables need room for nine columns even when stdout is a pipe (rich assumes 80 columns then).
table_console = Console(width=max(console.width, 130))


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class TierFormat(StrEnum):
    """The tier analysis has nested tables (tiers, tenants, subsidies): no single CSV holds it."""

    table = "table"
    json = "json"


def _settings() -> Settings:
    return load_settings()


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("attribution")
        except PackageNotFoundError:  # run from a checkout without installing it
            from attribution import __version__ as installed
        console.print(f"attribution {installed}")
        raise typer.Exit


@app.callback()
def _setup_logging(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version, exit."),
    ] = False,
) -> None:
    # Every command (serve, scheduler, collect, attribute, ...) logs as log_format/log_level say. A bad
    # config is left for the command itself to report, with the key and the problem.
    from attribution.logging import setup_from_settings, setup_logging

    try:
        setup_from_settings(load_settings())
    except AttributionError:
        setup_logging()


def _instant(value: str) -> datetime:
    return parse_instant(value)


StartOpt = Annotated[str, typer.Option("--start", help="ISO 8601 UTC, inclusive")]
EndOpt = Annotated[str, typer.Option("--end", help="ISO 8601 UTC, exclusive")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("demo-out"),
    days: Annotated[int, typer.Option(min=1, max=31, help="days of history, up to today 00:00 UTC")] = 7,
    month: Annotated[
        bool,
        typer.Option(
            "--month", help="the whole previous month, closed and then restated, and this month so far"
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the simulated cluster")] = 0,
) -> None:
    """Simulate a cluster, load it into a local Prometheus, collect, attribute and print the chargeback."""
    from attribution.demo import DEMO_PRICE_LIST, next_steps, run_demo
    from attribution.reports.render import tiers_table, to_table

    run = run_demo(out, days=days, seed=seed, say=lambda m: console.print(m, style="dim"), month=month)
    to_table(run.chargeback, table_console)
    tiers_table(run.tiers, table_console)
    console.print(f"wrote {out}/chargeback.csv, {out}/chargeback.json, {out}/tiers.csv and {out}/run.json")
    if run.closed_period:
        corrections = run.facts.get("correction_lines", 0)
        console.print(
            f"closed {run.closed_period}, then restated it: {corrections} correction lines billed in the "
            "next open period"
        )
    console.print("\n".join(next_steps(run, DEMO_PRICE_LIST)), highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from attribution.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print("database is at the latest revision")


@app.command()
def attribute(start: StartOpt, end: EndOpt) -> None:
    """Attribute stored telemetry for [start, end) with the memory-time model (replaces that window).

    Takes the lock of the scheduler's attribution job (its watermark row) while it writes, so a run by
    hand and the scheduler never write the same window at once; if the scheduler holds it, says so.
    """
    from attribution.collectors.run import ALL_SOURCES, ATTRIBUTION
    from attribution.errors import ConflictError
    from attribution.jobs.attribute import run_attribution, settlement_window
    from attribution.reports.html import money
    from attribution.reports.views import cents_half_even
    from attribution.store import queries
    from attribution.store.collection_state import CollectorWatermark
    from attribution.store.session import make_engine, make_sessionmaker, unit_of_work

    settings = _settings()
    settlement_window(settings, _instant(start), _instant(end))  # a bad window fails before any lock
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as session:
        scheduled = session.get(CollectorWatermark, (ATTRIBUTION, ALL_SOURCES)) is not None
        if scheduled and queries.lock_watermark(session, ATTRIBUTION, ALL_SOURCES) is None:
            raise ConflictError("the scheduler's attribution job is running; retry when it has finished")
        summary = run_attribution(settings, factory, _instant(start), _instant(end))
    if summary.attributed_until is None:
        console.print(f"nothing attributed: no interval from {iso(summary.start)} has been collected yet")
        return
    console.print(
        f"attributed {iso(summary.start)} to {iso(summary.end)}: {summary.lines} lines, "
        f"{money(cents_half_even(summary.total_usd_micros))} {settings.currency} "
        f"({summary.total_usd_micros:,} micro-USD)"
        + ("" if summary.end >= _instant(end) else " (stopped where collection has reached)")
    )
    if summary.correction_lines:
        console.print(
            f"{summary.correction_lines} correction lines: cost of closed periods changed, billed in the "
            "next open period (attribution report statement shows them)"
        )


def _canonical_period(value: str | None) -> str | None:
    """A period given on the command line, parsed once (:func:`parse_period`): other digits are refused."""
    if value is None:
        return None
    try:
        return parse_period(value)
    except InvalidWindowError as exc:
        raise typer.BadParameter(exc.detail) from None


@report_app.command("chargeback")
def report_chargeback(
    period: Annotated[str | None, typer.Option(help="YYYY-MM", callback=_canonical_period)] = None,
    start: Annotated[str | None, typer.Option()] = None,
    end: Annotated[str | None, typer.Option()] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Per-tenant chargeback for a period (calendar month, UTC) or a window.

    A period shows its statement: a closed one as issued (status closed, with its content hash), an open
    one with the corrections of closed periods billed in it, as the API and the statement do.
    """
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
        cb = build_chargeback(session, s, e, settings.interval_seconds, settings.currency, period)
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
    period: Annotated[str, typer.Argument(help="YYYY-MM", callback=_canonical_period)],
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


def _file_part(name: str) -> str:
    """``name`` as part of a file name in the current directory: tenant ids are chosen by whoever sends
    requests, so ``../x`` or ``a/b`` must not pick another directory. Keeps letters, digits, ``.``, ``_``
    and ``-``; anything else (a slash, a space, a NUL) becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class StatementFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"
    xlsx = "xlsx"


@report_app.command("statement")
def report_statement(
    period: Annotated[str, typer.Option(help="YYYY-MM", callback=_canonical_period)],
    fmt: Annotated[StatementFormat, typer.Option("--format")] = StatementFormat.table,
    tenant: Annotated[str | None, typer.Option(help="one tenant's statement")] = None,
    out: Annotated[Path | None, typer.Option(help="file to write; html, xlsx: statement-PERIOD.*")] = None,
    with_cluster_total: Annotated[
        bool, typer.Option(help="html, xlsx with --tenant: add the cluster and other tenants' totals")
    ] = False,
) -> None:
    """A period's statement: frozen if closed, provisional if open; usage and correction lines.

    html: a self-contained page with charts, printable; xlsx: a workbook with a sheet per view. With
    --tenant the page is the tenant's: it leaves out what the other tenants spent unless finance asks for
    the reconciliation with --with-cluster-total.
    """
    import json

    from attribution.reports.render import statement_table
    from attribution.reports.statement import build_statement

    settings = _settings()
    with _factory(settings)() as session:
        if fmt in (StatementFormat.html, StatementFormat.xlsx):
            from attribution.reports.html import build_statement_html
            from attribution.reports.xlsx import build_statement_xlsx

            path = out or Path(f"statement-{period}{'-' + _file_part(tenant) if tenant else ''}.{fmt.value}")
            if fmt is StatementFormat.html:
                path.write_text(build_statement_html(session, settings, period, tenant, with_cluster_total))
            else:
                path.write_bytes(build_statement_xlsx(session, settings, period, tenant, with_cluster_total))
            console.print(f"wrote {path}")
            return
        statement = build_statement(session, period)
    if tenant is not None:
        statement = statement.for_tenant(tenant)
    if fmt is StatementFormat.json:
        text = json.dumps(statement.to_dict(), indent=2, sort_keys=True) + "\n"
        if out is not None:
            out.write_text(text)
        else:
            sys.stdout.write(text)
    else:
        statement_table(statement, table_console)


@report_app.command("tiers")
def report_tiers(
    period: Annotated[str, typer.Option(help="YYYY-MM", callback=_canonical_period)],
    price_list: Annotated[Path, typer.Option("--price-list", help="TOML price list (docs/reports.md)")],
    what_if: Annotated[Path | None, typer.Option("--what-if", help="a changed price list to compare")] = None,
    pool: Annotated[str | None, typer.Option(help="one pool (prices are usually per model)")] = None,
    fmt: Annotated[TierFormat, typer.Option("--format")] = TierFormat.table,
) -> None:
    """Revenue under a price list against attributed cost per context tier and tenant: margins,
    who subsidises whom, break-even prices, and a what-if."""
    from attribution.config import RESERVED_NAMES
    from attribution.errors import NotFoundError
    from attribution.reports.pools import pool_exists
    from attribution.reports.pricelist import load_price_list
    from attribution.reports.pricing_render import write_tiers

    settings = _settings()
    prices = load_price_list(price_list, settings.currency)
    changed = load_price_list(what_if, settings.currency) if what_if else None
    with _factory(settings)() as session:
        known = {p.name for p in settings.pools} | RESERVED_NAMES
        if pool is not None and pool not in known and not pool_exists(session, pool):
            raise NotFoundError(f"no pool named {pool!r}: see attribution report chargeback --group-by")
        write_tiers(session, settings, period, prices, changed, pool, fmt.value, table_console)


PoolOpt = Annotated[str, typer.Option("--pool", help="a configured pool")]


def _window_of(settings: Settings, start: str, end: str) -> tuple[datetime, datetime]:
    from attribution.timeutil import align_window

    return align_window(_instant(start), _instant(end), settings.interval_seconds, settings.max_window_days)


@report_app.command("efficiency")
def report_efficiency(
    pool: PoolOpt,
    start: StartOpt,
    end: EndOpt,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """A pool per UTC day: KV use, batch occupancy, tokens per GPU-second, GPU utilisation, the cost of
    headroom below its target occupancy; and its cost as tokens, memory, idle and long context."""
    from attribution.reports.efficiency import efficiency
    from attribution.reports.insights_render import efficiency_table, to_json

    settings = _settings()
    s, e = _window_of(settings, start, end)
    with _factory(settings)() as session:
        report = efficiency(session, settings, pool, s, e)
    if fmt is Format.json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        efficiency_table(report, table_console)


@report_app.command("incidents")
def report_incidents(
    start: StartOpt,
    end: EndOpt,
    pool: Annotated[str | None, typer.Option("--pool", help="only this pool")] = None,
    fmt: Annotated[TierFormat, typer.Option("--format", help="table or json")] = TierFormat.table,
) -> None:
    """Recovery incidents: pools down or reloading while their GPUs were paid for, and what it cost."""
    from attribution.reports.incidents import incident_list, show

    settings = _settings()
    s, e = _window_of(settings, start, end)
    with _factory(settings)() as session:
        show(incident_list(session, s, e, pool), as_json=fmt is TierFormat.json, console=table_console)


@report_app.command("what-if")
def report_what_if(
    pool: PoolOpt,
    start: StartOpt,
    end: EndOpt,
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="e.g. fp8 or auto")] = None,
    replicas: Annotated[int | None, typer.Option("--replicas", min=1)] = None,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="a GPU type with a price")] = None,
    tp: Annotated[int | None, typer.Option("--tp", min=1, help="tensor-parallel size")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """The pool as it ran in [start, end) against another deployment on the same measured load: GPUs,
    cost per month and per 1M tokens per tier, whether the peak KV demand fits, and the assumptions."""
    from attribution.reports.insights_render import to_json, what_if_table
    from attribution.reports.whatif import Change, what_if

    settings = _settings()
    s, e = _window_of(settings, start, end)
    with _factory(settings)() as session:
        report = what_if(session, settings, pool, s, e, Change(kv_dtype, replicas, gpu_type, tp))
    if fmt is Format.json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        what_if_table(report, table_console)


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str], typer.Option(help="admin, finance, billing or tenant:<id>; repeat for several")
    ],
    name: Annotated[str, typer.Option(help="who or what the key is for")] = "",
) -> None:
    """Create an API key and print it once: only its SHA-256 is stored, it cannot be shown again."""
    from attribution.store.apikeys import create_key
    from attribution.store.session import unit_of_work

    with unit_of_work(_factory(_settings())) as session:
        key = create_key(session, scope, name)
    console.print(f"key id {key.key_id}, scopes {', '.join(key.scopes)}; the key (shown once):")
    sys.stdout.write(key.token + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, scopes, created and revoked times (never the secret)."""
    from attribution.collectors.cli import columns
    from attribution.store.apikeys import list_keys, scopes_of

    with _factory(_settings())() as session:
        rows = [
            [
                k.key_id,
                # a non-ASCII scope is shown escaped: a Cyrillic a (U+0430) must not list like a Latin one
                ", ".join(s if s.isascii() else ascii(s) for s in scopes_of(k)),
                iso(k.created_at),
                f"revoked {iso(k.revoked_at)}" if k.revoked_at else "active",
                k.name or "-",
            ]
            for k in list_keys(session)
        ]
    typer.echo(columns(["key_id", "scopes", "created_at", "status", "name"], rows))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id from keys list")]) -> None:
    """Revoke a key: every request with it is refused (401) from now on."""
    from attribution.store.apikeys import revoke_key
    from attribution.store.session import unit_of_work

    with unit_of_work(_factory(_settings())) as session:
        row = revoke_key(session, key_id)
        console.print(f"revoked {row.key_id} at {iso(row.revoked_at) if row.revoked_at else ''}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="server processes; each keeps its own answer cache and rate limiter (docs/performance.md)",
        ),
    ] = 1,
) -> None:
    """Serve the reporting API (uvicorn; uvloop and httptools, its fastest loop and parser, if installed)."""
    import uvicorn

    from attribution.api.app import create_app

    settings = _settings()  # a bad setting is one line here, before any worker starts
    # log_config=None: uvicorn's loggers propagate to the root handler set up above (text or JSON)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
        return
    # several processes need the app by name: each builds it from the same environment and config file
    uvicorn.run(
        "attribution.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


@config_app.command("docs")
def config_docs(
    out: Annotated[Path | None, typer.Option(help="write here (docs/configuration-reference.md)")] = None,
) -> None:
    """Print (or write) the configuration reference generated from the settings models."""
    from attribution.configdocs import generate

    text = generate()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")


_ROLES = re.compile(r":(?:class|func|meth|attr|mod|data):`~?([^`]+)`")


def plain(text: str | None) -> str | None:
    """Docstrings are reStructuredText for the docs; ``--help`` shows them as plain text."""
    return None if text is None else _ROLES.sub(r"\1", text).replace("``", "")


def cli_command() -> Any:
    """The click command behind ``app`` (typer's own click), with every help text in plain words."""
    root = typer.main.get_command(app)
    todo: list[Any] = [root]
    while todo:
        command = todo.pop()
        command.help = plain(command.help)
        command.short_help = plain(command.short_help)
        for param in command.params:
            if hasattr(param, "help"):
                param.help = plain(param.help)
        todo.extend(getattr(command, "commands", {}).values())
    return root


def main() -> None:
    """The entry point: an operator's mistake (settings, database) is one line and exit code 2."""
    from rich.markup import escape

    from attribution.clierrors import describe

    try:
        cli_command()(prog_name="attribution")
    except Exception as exc:
        failure = describe(exc)
        if failure is None:
            raise
        code, line = failure
        err.print(f"[red]error[/red] ({code}): {escape(line)}", highlight=False)
        raise SystemExit(2) from None


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM: unwind the command (transactions roll back, servers close), then leave without the
    interpreter's teardown (``entry``). A command that handles SIGTERM itself (``serve``, ``sim serve``,
    the scheduler) replaces this handler and gives the signal back here when it has stopped."""
    global _terminated  # noqa: PLW0603 - one process-wide fact, read once by entry()
    _terminated = True
    raise SystemExit(128 + signum)


_terminated = False


def entry() -> None:
    """The console script (and ``python -m attribution.cli``): ``main`` with SIGTERM handled.

    A container's PID 1 has no default SIGTERM action, so without a handler a one-off command ignored
    ``docker stop`` for 10 s. Once SIGTERM has stopped a command, the process exits at once: tearing
    down the interpreter (a few hundred modules) takes 0.3-1.5 s on a busy machine, and the image must
    stop within a second. Everything is flushed first; the exit code is 128 + 15."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except SystemExit as exc:
        if not _terminated:
            raise
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exc.code if isinstance(exc.code, int) else 1)


if __name__ == "__main__":
    entry()
