"""``attribution budgets``: each budget's month (spend, projection, thresholds crossed) and its alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from attribution.cli.common import canonical_period, console, current_settings, session_factory

if TYPE_CHECKING:
    from attribution.budgets.status import BudgetStatus

budgets_app = typer.Typer(no_args_is_help=True, help="Monthly budgets: list, check (fire and send alerts).")

PeriodOpt = Annotated[str | None, typer.Option(help="YYYY-MM (default: the current UTC month)")]


def _line(s: BudgetStatus) -> str:
    from attribution.model.money import format_micros

    projected = "-" if s.projected_usd_micros is None else format_micros(s.projected_usd_micros)
    crossed = ", ".join(f"{c.kind.value} {c.threshold_percent}%" for c in s.crossed) or "none"
    return (
        f"{s.budget}  {s.period} ({s.period_status})  budget {format_micros(s.budget_usd_micros)}  "
        f"spent {format_micros(s.spent_usd_micros)} ({s.spent_ratio:.1%})  projected {projected}  "
        f"covered {s.attributed_seconds}/{s.period_seconds} s  crossed: {crossed}"
    )


def _period(period: str | None) -> str:
    from datetime import UTC, datetime

    from attribution.ledger.close import period_of

    return canonical_period(period) or period_of(datetime.now(UTC))


@budgets_app.command("list")
def budgets_list(period: PeriodOpt = None) -> None:
    """Every budget's spend so far (as /v1/chargeback gives it), projection to month end, and the
    thresholds crossed; reads only."""
    from attribution.budgets.status import budget_statuses

    settings = current_settings()
    if not settings.budgets:
        console().print("no budgets configured ([[budgets]] in the configuration, docs/budgets.md)")
        return
    with session_factory(settings)() as session:
        for s in budget_statuses(session, settings, _period(period)):
            console().print(_line(s))


@budgets_app.command("check")
def budgets_check(period: PeriodOpt = None) -> None:
    """Fire an alert for each threshold newly crossed (once per budget, period, threshold and kind) and
    send every pending alert to the webhook, signed, with retries. Safe to run again: nothing is resent."""
    from attribution.budgets.check import check_budgets

    settings = current_settings()
    result = check_budgets(settings, session_factory(settings), period=_period(period))
    for s in result.statuses:
        console().print(_line(s))
    console().print(
        f"fired {len(result.fired)}, delivered {len(result.delivered)}, gave up on {len(result.failed)} "
        f"({result.attempts} attempts)"
        + ("" if settings.budget_webhook.url else "; no budget_webhook.url: alerts recorded, not sent")
    )
