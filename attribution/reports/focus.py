"""A FOCUS 1.2 Cost and Usage dataset of a billing period, as CSV (/work/shared/reference/finops.md).

One row per statement line (pool x tenant x context tier, plus correction lines billed in the period),
so the dataset is the statement: a closed period's rows come from its frozen lines and carry an
``InvoiceId`` per tenant; an open period's rows are provisional and have none (FOCUS: null when the
charge is on no invoice). Corrections of earlier closed periods have ``ChargeClass=Correction``, this
period as billing period and the original one as charge period.

Money: ``BilledCost`` (= ``EffectiveCost`` = ``ContractedCost`` = ``ListCost``) is the line's amount in
the statement's billing currency (``BillingCurrency``; USD cents as issued, or the converted minor units of
docs/currencies.md), as FOCUS 1.2 wants every cost and unit price in the billing currency. When that is
not the pricing currency (USD), ``PricingCurrency`` and its ``PricingCurrencyContractedUnitPrice`` and
``PricingCurrencyEffectiveCost`` columns carry the USD figures, and ``x_ExchangeRate`` the rate used.
``PricingUnit`` is ``GPU-Hours``: ``ContractedUnitPrice`` is the pool's average cost of a GPU-hour
in the period (to the micro-dollar; the cluster's for lines outside every pool) and ``PricingQuantity``
the GPU-hours the line's cost buys at that price, to 1e-10, so quantity x unit price = cost within
1e-9 USD, or half a 1e-10 step times the unit price in another billing currency (the validator does not
check this; our tests do). Memory-time, pool and tier are ``x_`` columns, and so is the split of each
pool's cost to its rows (``x_AllocatedMethodId`` and the rest: FOCUS 1.3's allocation columns under the
``x_`` prefix, since the validator here knows FOCUS 1.2 only; :mod:`.focus_allocation`, docs/focus.md).
A whole-cluster export ends with each commitment's unused part (:mod:`.focus_commitments`).
Timestamps are ``YYYY-MM-DDTHH:MM:SSZ``; decimals always carry a point (the validator infers BIGINT for
``2``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import Any

from sqlalchemy.orm import Session

from attribution.model.commitment import CommitmentMonth
from attribution.model.money import format_cents, format_micros
from attribution.model.statement import CORRECTION, Line
from attribution.reports.cells import csv_chunks
from attribution.reports.focus_allocation import (
    ALLOCATION_COLUMNS,
    COMPONENT_COLUMNS,
    allocation_columns,
    origin_costs,
)
from attribution.reports.focus_commitments import COMMITMENT_COLUMNS, unused_rows
from attribution.reports.period_statement import Statement
from attribution.store.cluster import cluster_cost_and_gpu_intervals
from attribution.store.pools import cost_and_gpu_intervals_by_pool
from attribution.timeutil import period_window

GIB = 1024**3
PLATFORM = "Attribution LLM Platform"
FOCUS_COLUMNS = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
]
X_COLUMNS = [
    "x_Pool",
    "x_ContextTier",
    "x_MemoryGiBHours",
    *COMPONENT_COLUMNS,
    "x_CostUsdMicros",
    "x_Requests",
    "x_PromptTokens",
    "x_GenerationTokens",
    "x_StatementHash",
    *ALLOCATION_COLUMNS,
    *COMMITMENT_COLUMNS,
]
#: Present only in a converted export (FOCUS: PRICING_BILLING_CURRENCY_DIFFERENCES), after FOCUS_COLUMNS.
PRICING_CURRENCY_COLUMNS = [
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
]
QUANTITY_PLACES = Decimal("1E-10")


@dataclass(frozen=True, slots=True)
class Rates:
    """Micro-USD per GPU-hour per pool over the period, and the cluster's for lines outside pools."""

    by_pool: dict[str, int]
    cluster: int | None

    def of(self, pool: str) -> int | None:
        return self.by_pool.get(pool, self.cluster)


def gpu_hour_rates(session: Session, period: str, interval_seconds: int) -> Rates:
    start, end = period_window(period)
    rows = cost_and_gpu_intervals_by_pool(session, start, end)
    by_pool = {str(pool): _rate(int(cost), int(gpus), interval_seconds) for pool, cost, gpus in rows if gpus}
    cost, gpus = cluster_cost_and_gpu_intervals(session, start, end)
    cluster = _rate(int(cost), int(gpus), interval_seconds) if cost is not None and gpus else None
    return Rates({k: v for k, v in by_pool.items() if v}, cluster or None)


def _rate(cost_usd_micros: int, gpu_intervals: int, interval_seconds: int) -> int:
    """Micro-USD per GPU-hour, rounded half-up to the micro-dollar."""
    return (cost_usd_micros * 3600 * 2 + gpu_intervals * interval_seconds) // (
        2 * gpu_intervals * interval_seconds
    )


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _usd(cents: int) -> str:
    return format_cents(cents)


def _amount(minor: int, exponent: int) -> str:
    """Minor units as a decimal that always carries a point (``196996.0`` for yen): the validator infers
    an integer column from ``196996`` and then refuses it as a Decimal."""
    return f"{Decimal(minor).scaleb(-exponent):.{max(exponent, 1)}f}"


def focus_rows(
    statement: Statement,
    rates: Rates,
    tenant: str | None = None,
    commitments: Sequence[CommitmentMonth] = (),
) -> list[dict[str, str]]:
    """The statement's lines as FOCUS rows (only ``tenant``'s when given), in statement order, then (for
    the whole cluster only: it is no tenant's) each commitment's unused part."""
    billing_start, billing_end = period_window(statement.period)
    closed = statement.status == "closed"
    common = {
        "BillingCurrency": statement.billing_currency,
        "BillingPeriodEnd": _ts(billing_end),
        "BillingPeriodStart": _ts(billing_start),
        "InvoiceIssuerName": PLATFORM,
        "ProviderName": PLATFORM,
        "PublisherName": PLATFORM,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "LLM Inference",
        "ServiceSubcategory": "Generative AI",
    }
    rows = []
    converted = statement.rate_effective_from is not None
    origins = origin_costs(statement.lines)  # of the whole statement: a tenant's rows show their share
    for line, minor in zip(statement.lines, statement.line_billing_minor, strict=True):
        if tenant is not None and line.tenant != tenant:
            continue
        charge_start, charge_end = period_window(line.charge_period)
        correction = line.charge_class == CORRECTION
        cost = _amount(minor, statement.billing_exponent)
        row = {
            **common,
            "BilledCost": cost,
            "BillingAccountId": line.tenant,
            "BillingAccountName": line.tenant,
            "ChargeCategory": "Usage",
            "ChargeClass": "Correction" if correction else "",
            "ChargeDescription": _description(line),
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _ts(charge_end),
            "ChargePeriodStart": _ts(charge_start),
            "ContractedCost": cost,
            "EffectiveCost": cost,
            "InvoiceId": f"CB-{statement.period}-{line.tenant}" if closed else "",
            "ListCost": cost,
            # the cluster is the sub-account: a tenant's (billing account's) usage in one cluster
            "SubAccountId": line.cluster,
            "SubAccountName": line.cluster,
            **_pricing(line, minor, statement, rates.of(line.pool), correction),
            **_extras(line, statement),
            **allocation_columns(line, origins),
        }
        if converted:
            row |= _pricing_currency(line, rates.of(line.pool), correction, statement.exchange_rate)
        rows.append(row)
    if tenant is None:
        rows += unused_rows(statement, list(commitments), common)
    return rows


def _description(line: Line) -> str:
    what = f"GPU memory-time of pool {line.pool}, context tier {line.tier}"
    if line.charge_class == CORRECTION:
        return f"Restatement of {line.charge_period}: {what}"
    return what


def _pricing(
    line: Line, minor: int, statement: Statement, rate: int | None, correction: bool
) -> dict[str, str]:
    """Unit price in the billing currency (the USD rate times the exchange rate, exact) and the GPU-hours
    the billed amount buys at it, so quantity x unit price = BilledCost within 1e-9."""
    if correction or rate is None:
        # FOCUS lets a correction carry no quantity; a cluster with no GPU-hours has no price to quote
        return {"ContractedUnitPrice": "", "PricingQuantity": "", "PricingUnit": ""}
    unit_price = Decimal(rate).scaleb(-6) * Decimal(statement.exchange_rate)
    quantity = (Decimal(minor).scaleb(-statement.billing_exponent) / unit_price).quantize(QUANTITY_PLACES)
    return {
        "ContractedUnitPrice": f"{unit_price:f}" if statement.rate_effective_from else format_micros(rate),
        "PricingQuantity": f"{quantity:f}",
        "PricingUnit": "GPU-Hours",
    }


def _pricing_currency(line: Line, rate: int | None, correction: bool, exchange_rate: str) -> dict[str, str]:
    """The USD figures of a converted row: its effective cost as issued in cents, and its unit price."""
    return {
        "PricingCurrency": "USD",
        "PricingCurrencyContractedUnitPrice": "" if correction or rate is None else format_micros(rate),
        "PricingCurrencyEffectiveCost": _usd(line.total_cents),
        "x_ExchangeRate": exchange_rate,
    }


def _extras(line: Line, statement: Statement) -> dict[str, str]:
    return {
        "x_Pool": line.pool,
        "x_ContextTier": line.tier,
        "x_MemoryGiBHours": f"{line.kv_byte_seconds / GIB / 3600:.6f}",
        "x_KvInUseCost": format_micros(line.kv_in_use_usd_micros),
        "x_StaticCost": format_micros(line.static_usd_micros),
        "x_IdleCost": format_micros(line.idle_usd_micros),
        # the three kinds of idle, exact, summing to x_IdleCost (docs/insights.md)
        "x_IdleColdCost": format_micros(line.idle_cold_usd_micros),
        "x_IdleWarmCost": format_micros(line.idle_warm_usd_micros),
        "x_KvHeadroomCost": format_micros(line.kv_headroom_usd_micros),
        "x_UnmeasuredCost": format_micros(line.unmeasured_usd_micros),
        # recovery incidents: a pool down or reloading while its GPUs are paid (docs/insights.md)
        "x_RecoveryCost": format_micros(line.recovery_usd_micros),
        "x_CostUsdMicros": str(line.total_usd_micros),
        "x_Requests": str(line.requests),
        "x_PromptTokens": str(line.prompt_tokens),
        "x_GenerationTokens": str(line.generation_tokens),
        "x_StatementHash": statement.content_hash or "",
    }


def focus_csv(rows: list[dict[str, Any]]) -> str:
    """FOCUS columns first, then the ``x_`` ones (FOCUS ColumnHandling); empty cells are nulls."""
    return "".join(focus_csv_chunks(rows))


def focus_csv_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """:func:`focus_csv` in chunks of rows, for a streamed export."""
    return csv_chunks(_focus_cells(rows))


def _focus_cells(rows: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    rows = iter(rows)
    first = next(rows, None)
    converted = first is not None and "PricingCurrency" in first
    columns = FOCUS_COLUMNS + (PRICING_CURRENCY_COLUMNS if converted else []) + X_COLUMNS
    columns += ["x_ExchangeRate"] if converted else []
    yield columns
    rows = chain([first], rows) if first is not None else rows
    # every cell through the one escape: names are made safe; a correction's -1.23 is a number, unchanged
    for row in rows:
        unknown = set(row) - set(columns)
        assert not unknown, f"not FOCUS columns: {sorted(unknown)}"
        yield [row.get(c, "") for c in columns]
