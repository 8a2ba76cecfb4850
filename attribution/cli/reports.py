"""``attribution report``: chargeback, statements, pricing tiers, efficiency and what-if, from the ledger."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attribution.cli.common import (
    EndOpt,
    Format,
    StartOpt,
    canonical_period,
    console,
    current_settings,
    instant,
    session_factory,
    table_console,
)
from attribution.timeutil import period_window

if TYPE_CHECKING:
    from attribution.config import Settings

report_app = typer.Typer(no_args_is_help=True, help="Reports from stored results.")


class TierFormat(StrEnum):
    """The tier analysis has nested tables (tiers, tenants, subsidies): no single CSV holds it."""

    table = "table"
    json = "json"


@report_app.command("chargeback")
def report_chargeback(
    period: Annotated[str | None, typer.Option(help="YYYY-MM", callback=canonical_period)] = None,
    start: Annotated[str | None, typer.Option()] = None,
    end: Annotated[str | None, typer.Option()] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Per-tenant chargeback for a period (calendar month, UTC) or a window.

    A period shows its statement: a closed one as issued (status closed, with its content hash), an open
    one with the corrections of closed periods billed in it, as the API and the statement do.
    """
    from attribution.reports.chargeback import build_chargeback
    from attribution.reports.chargeback_render import to_csv, to_json, to_table
    from attribution.timeutil import align_window

    settings = current_settings()
    if period is not None:
        s, e = period_window(period)
    elif start is not None and end is not None:
        s, e = instant(start), instant(end)
    else:
        raise typer.BadParameter("give --period YYYY-MM or both --start and --end")
    s, e = align_window(s, e, settings.interval_seconds, settings.max_window_days)
    with session_factory(settings)() as session:
        cb = build_chargeback(session, s, e, settings.interval_seconds, settings.currency, period)
    if fmt is Format.table:
        to_table(cb, table_console())
    else:
        sys.stdout.write(to_csv(cb) if fmt is Format.csv else to_json(cb) + "\n")


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
    period: Annotated[str, typer.Option(help="YYYY-MM", callback=canonical_period)],
    fmt: Annotated[StatementFormat, typer.Option("--format")] = StatementFormat.table,
    tenant: Annotated[str | None, typer.Option(help="one tenant's statement")] = None,
    out: Annotated[Path | None, typer.Option(help="file to write; html, xlsx: statement-PERIOD.*")] = None,
    with_cluster_total: Annotated[
        bool, typer.Option(help="html, xlsx with --tenant: add the cluster and other tenants' totals")
    ] = False,
    currency: Annotated[
        str | None,
        typer.Option(help="table, json: ISO 4217 billing currency (default: the configured one)"),
    ] = None,
) -> None:
    """A period's statement: frozen if closed, provisional if open; usage and correction lines.

    table and json bill in --currency, else the tenant's or the deployment's billing currency, at the
    period's exchange rate (docs/currencies.md); json keeps the USD amounts beside the billed ones.

    html: a self-contained page with charts, printable; xlsx: a workbook with a sheet per view. With
    --tenant the page is the tenant's: it leaves out what the other tenants spent unless finance asks for
    the reconciliation with --with-cluster-total.
    """
    import json

    from attribution.reports.chargeback_render import statement_table
    from attribution.reports.commitments import commitment_section
    from attribution.reports.period_statement import build_statement
    from attribution.reports.price_basis import price_basis
    from attribution.reports.statement_currency import in_currency

    settings = current_settings()
    with session_factory(settings)() as session:
        if fmt in (StatementFormat.html, StatementFormat.xlsx):
            from attribution.reports.statement_html import build_statement_html
            from attribution.reports.xlsx import build_statement_xlsx

            path = out or Path(f"statement-{period}{'-' + _file_part(tenant) if tenant else ''}.{fmt.value}")
            if fmt is StatementFormat.html:
                path.write_text(build_statement_html(session, settings, period, tenant, with_cluster_total))
            else:
                path.write_bytes(build_statement_xlsx(session, settings, period, tenant, with_cluster_total))
            console().print(f"wrote {path}")
            return
        statement = build_statement(session, period)
        billed = currency or settings.billing_currency_for(tenant)
        statement = in_currency(session, statement, settings.currency, billed, settings.rates())
        committed = commitment_section(session, settings, period).to_dict() if tenant is None else []
    if tenant is not None:
        statement = statement.for_tenant(tenant)
    if fmt is StatementFormat.json:
        basis = [b.to_dict(with_cost=tenant is None) for b in price_basis(settings, period)]
        body = statement.to_dict() | {"price_basis": basis, "commitments": committed}
        text = json.dumps(body, indent=2, sort_keys=True) + "\n"
        if out is not None:
            out.write_text(text)
        else:
            sys.stdout.write(text)
    else:
        statement_table(statement, table_console())


@report_app.command("tiers")
def report_tiers(
    period: Annotated[str, typer.Option(help="YYYY-MM", callback=canonical_period)],
    price_list: Annotated[Path, typer.Option("--price-list", help="TOML price list (docs/reports.md)")],
    what_if: Annotated[Path | None, typer.Option("--what-if", help="a changed price list to compare")] = None,
    pool: Annotated[str | None, typer.Option(help="one pool (prices are usually per model)")] = None,
    fmt: Annotated[TierFormat, typer.Option("--format")] = TierFormat.table,
) -> None:
    """Revenue under a price list against attributed cost per context tier and tenant: margins,
    who subsidises whom, break-even prices, and a what-if."""
    from attribution.errors import NotFoundError
    from attribution.model.vocabulary import RESERVED_NAMES
    from attribution.reports.pricelist import load_price_list
    from attribution.reports.pricing_render import write_tiers
    from attribution.store.pools import pool_exists

    settings = current_settings()
    prices = load_price_list(price_list, settings.currency)
    changed = load_price_list(what_if, settings.currency) if what_if else None
    with session_factory(settings)() as session:
        known = {p.name for p in settings.pools} | RESERVED_NAMES
        if pool is not None and pool not in known and not pool_exists(session, pool):
            raise NotFoundError(f"no pool named {pool!r}: see attribution report chargeback --group-by")
        write_tiers(session, settings, period, prices, changed, pool, fmt.value, table_console())


PoolOpt = Annotated[str, typer.Option("--pool", help="a configured pool")]


def _window_of(settings: Settings, start: str, end: str) -> tuple[datetime, datetime]:
    from attribution.timeutil import align_window

    return align_window(instant(start), instant(end), settings.interval_seconds, settings.max_window_days)


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

    settings = current_settings()
    s, e = _window_of(settings, start, end)
    with session_factory(settings)() as session:
        report = efficiency(session, settings, pool, s, e)
    if fmt is Format.json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        efficiency_table(report, table_console())


@report_app.command("incidents")
def report_incidents(
    start: StartOpt,
    end: EndOpt,
    pool: Annotated[str | None, typer.Option("--pool", help="only this pool")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """Recovery incidents: pools down or reloading while their GPUs were paid for, and what it cost."""
    from attribution.reports.incidents import incident_list, show

    settings = current_settings()
    s, e = _window_of(settings, start, end)
    with session_factory(settings)() as session:
        show(incident_list(session, s, e, pool), as_json=fmt is Format.json, console=table_console())


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

    settings = current_settings()
    s, e = _window_of(settings, start, end)
    with session_factory(settings)() as session:
        report = what_if(session, settings, pool, s, e, Change(kv_dtype, replicas, gpu_type, tp))
    if fmt is Format.json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        what_if_table(report, table_console())
