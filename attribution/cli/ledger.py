"""``attribution attribute`` and ``attribution period``: the ledger by hand."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from attribution.cli.common import (
    ClusterOpt,
    EndOpt,
    StartOpt,
    canonical_period,
    console,
    current_settings,
    instant,
    session_factory,
)
from attribution.timeutil import iso

if TYPE_CHECKING:
    from attribution.config import Settings
    from attribution.ledger.attribute import AttributionSummary

period_app = typer.Typer(no_args_is_help=True, help="Billing periods: list, close.")


def attribute(start: StartOpt, end: EndOpt, cluster: ClusterOpt = None) -> None:
    """Attribute stored telemetry for [start, end) with the memory-time model (replaces that window).

    Takes the lock of the scheduler's attribution job (its watermark row) while it writes, so a run by
    hand and the scheduler never write the same window at once; if the scheduler holds it, says so.
    A span longer than the scheduler's window (a month to close) is attributed window by window, in
    the memory of one window, and settles as one run would (docs/memory-time-model.md).
    Every configured cluster in turn, each under its own lock, or only ``--cluster``.
    """
    from attribution.ledger.attribute import settlement_window
    from attribution.ledger.span import attribute_by_hand
    from attribution.ledger.watermark import lock_attribution

    root = current_settings()
    views = root.selected_clusters(cluster)
    settlement_window(root, instant(start), instant(end))  # a bad window fails before any lock
    factory = session_factory(root)
    for settings in views:
        with lock_attribution(factory, settings.cluster):
            summary = attribute_by_hand(settings, factory, instant(start), instant(end))
        _report(settings, summary, instant(end), named=bool(root.clusters))


def _report(settings: Settings, summary: AttributionSummary, end: datetime, *, named: bool) -> None:
    from attribution.reports.statement_html import money
    from attribution.reports.statement_views import cents_half_even

    prefix = f"{settings.cluster}: " if named else ""
    if summary.attributed_until is None:
        console().print(
            f"{prefix}nothing attributed: no interval from {iso(summary.start)} has been collected yet"
        )
        return
    console().print(
        f"{prefix}attributed {iso(summary.start)} to {iso(summary.end)}: {summary.lines} lines, "
        f"{money(cents_half_even(summary.total_usd_micros))} {settings.currency} "
        f"({summary.total_usd_micros:,} micro-USD)"
        + ("" if summary.end >= end else " (stopped where collection has reached)")
    )
    if summary.correction_lines:
        console().print(
            f"{summary.correction_lines} correction lines: cost of closed periods changed, billed in the "
            "next open period (attribution report statement shows them)"
        )


@period_app.command("list")
def period_list() -> None:
    """Every known period with its status, total and content hash."""
    from attribution.store.statements import all_periods

    with session_factory(current_settings())() as session:
        for p in all_periods(session):
            total = "" if p.total_cents is None else f"{p.total_cents / 100:.2f}"
            console().print(f"{p.period}  {p.status:<6}  {total:>14}  {p.content_hash or ''}")


@period_app.command("close")
def period_close(
    period: Annotated[str, typer.Argument(help="YYYY-MM", callback=canonical_period)],
    idempotency_key: Annotated[
        str | None, typer.Option(help="a retried close with the same key is safe")
    ] = None,
) -> None:
    """Freeze a period's statement (lines plus a content hash). Later changes become corrections."""
    from attribution.ledger.close import close_period
    from attribution.store.session import unit_of_work

    settings = current_settings()
    with unit_of_work(session_factory(settings)) as session:
        row, closed_now = close_period(
            session, period, settings.interval_seconds, idempotency_key, settings.rates()
        )
        verb = "closed" if closed_now else "was already closed"
        console().print(f"{period} {verb}: {row.total_cents} cents, sha256 {row.content_hash}")
