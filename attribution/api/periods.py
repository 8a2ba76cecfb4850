"""Billing periods: list, close (idempotent with ``Idempotency-Key``), and the statement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from attribution.api.auth import BillingDep, FinanceDep
from attribution.api.convert import plain, to_schema
from attribution.api.deps import SessionDep, SettingsDep, WriteSessionDep
from attribution.api.params import CurrencyQuery, resolve_period
from attribution.api.schemas import PeriodOut, StatementOut
from attribution.errors import AttributionError
from attribution.ledger.close import close_period
from attribution.reports.commitments import commitment_section
from attribution.reports.period_statement import build_statement
from attribution.reports.price_basis import price_basis
from attribution.reports.statement_currency import in_currency
from attribution.store.statements import all_periods

router = APIRouter(tags=["periods"])

PeriodPath = Annotated[str, Path(max_length=20, description="YYYY-MM")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="a retried close with the same key returns the same result; another key is a 409",
    ),
]


class DuplicateHeaderError(AttributionError):
    status_code = 400
    code = "duplicate_header"


def single_header(request: Request, name: str) -> None:
    """Two ``Idempotency-Key`` headers are ambiguous (which one makes the retry safe?): a 400, not the
    first one silently."""
    if len(request.headers.getlist(name)) > 1:
        raise DuplicateHeaderError(f"the {name} header is given more than once; send it once")


@router.get("/v1/periods", response_model=list[PeriodOut])
def periods(_: BillingDep, session: SessionDep) -> list[PeriodOut]:
    """Every period the service has seen, oldest first, with status, totals and content hash."""
    return [to_schema(PeriodOut, p) for p in all_periods(session)]


@router.post("/v1/periods/{period}/close", response_model=PeriodOut)
def close(
    request: Request,
    period: PeriodPath,
    idempotency_key: IdempotencyKey,
    _: FinanceDep,
    session: WriteSessionDep,
    settings: SettingsDep,
) -> PeriodOut:
    """Freeze the period's statement. The same key again returns the closed period unchanged."""
    # the close commits when this returns, before the answer is sent (WriteSessionDep)
    single_header(request, "Idempotency-Key")
    row, _closed_now = close_period(
        session, resolve_period(period), settings.interval_seconds, idempotency_key, settings.rates()
    )
    return to_schema(PeriodOut, row)


@router.get("/v1/periods/{period}/statement", response_model=StatementOut)
def statement(
    period: PeriodPath,
    _: BillingDep,
    session: SessionDep,
    settings: SettingsDep,
    currency: CurrencyQuery = None,
) -> StatementOut:
    """A closed period's frozen statement (with its content hash), or an open period's provisional one,
    with its amounts in the billing currency beside the USD ones (docs/currencies.md) and the basis of each
    GPU type's price (direct, or derived from a purchase, part by part)."""
    name = resolve_period(period)
    found = build_statement(session, name)
    billed = currency or settings.billing_currency_for()
    found = in_currency(session, found, settings.currency, billed, settings.rates())
    body = found.to_dict()
    body["price_basis"] = plain(price_basis(settings, name))
    body["commitments"] = commitment_section(session, settings, name).to_dict()
    return StatementOut.model_validate(body)
