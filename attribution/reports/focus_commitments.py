"""The unused part of each commitment as a FOCUS row of its own (docs/focus.md, "Commitments").

FOCUS 1.2 wants it as a usage row with ``CommitmentDiscountStatus = Unused``; focus-validator 2.2.1's
rule model lists that column's values as Active/Expired/Pending (finops.md 2.6), so the status and the
commitment's id and name are ``x_`` columns. The row bills no tenant (``BillingAccountId`` is
``__unused__``, on an invoice of its own in a closed period): it is what the platform paid for and did
not use. ``PricingQuantity`` is one month of the term at a unit price of the row's cost, so quantity x
unit price is the cost exactly.
"""

from __future__ import annotations

from decimal import Decimal

from attribution.model.commitment import CommitmentMonth
from attribution.model.currency import convert_total
from attribution.model.money import format_cents, format_micros
from attribution.reports.commitments import COMMITMENT_POOL, UNUSED_TENANT
from attribution.reports.focus_allocation import ALLOCATION_COLUMNS, COMPONENT_COLUMNS
from attribution.reports.period_statement import Statement

COMMITMENT_COLUMNS = ["x_CommitmentDiscountId", "x_CommitmentDiscountName", "x_CommitmentDiscountStatus"]
ZERO_MICROS = format_micros(0)


def unused_rows(
    statement: Statement, months: list[CommitmentMonth], common: dict[str, str]
) -> list[dict[str, str]]:
    """One row per commitment with an unused part in the period; ``common`` holds the columns every row of
    the export shares (provider, service, billing period)."""
    rows = []
    for m in months:
        if m.unused_usd_micros == 0:
            continue
        minor = convert_total(
            m.unused_usd_micros, Decimal(statement.exchange_rate), statement.billing_exponent
        )
        cost = f"{Decimal(minor).scaleb(-statement.billing_exponent):.{max(statement.billing_exponent, 1)}f}"
        row = {
            **common,
            "BilledCost": cost,
            "BillingAccountId": UNUSED_TENANT,
            "BillingAccountName": "Unused commitments",
            "ChargeCategory": "Usage",
            "ChargeClass": "",
            "ChargeDescription": f"Unused part of commitment {m.name} ({m.covers}), month {m.month + 1} of "
            f"{m.months}",
            "ChargeFrequency": "Recurring",
            "ChargePeriodEnd": common["BillingPeriodEnd"],
            "ChargePeriodStart": common["BillingPeriodStart"],
            "ContractedCost": cost,
            "ContractedUnitPrice": cost,
            "EffectiveCost": cost,
            # on the platform's own invoice of the period: FOCUS wants every row of a closed period on one
            "InvoiceId": f"CB-{statement.period}-{UNUSED_TENANT}" if statement.status == "closed" else "",
            "ListCost": cost,
            "PricingQuantity": "1.0",
            "PricingUnit": "Months",
            "x_Pool": COMMITMENT_POOL,
            "x_ContextTier": "",
            "x_MemoryGiBHours": "0.000000",
            **dict.fromkeys(COMPONENT_COLUMNS, ZERO_MICROS),
            "x_CostUsdMicros": str(m.unused_usd_micros),
            "x_Requests": "0",
            "x_PromptTokens": "0",
            "x_GenerationTokens": "0",
            "x_StatementHash": statement.content_hash or "",
            **dict.fromkeys(ALLOCATION_COLUMNS, ""),
            "x_CommitmentDiscountId": f"commitment/{m.name}",
            "x_CommitmentDiscountName": m.name,
            "x_CommitmentDiscountStatus": "Unused",
        }
        if statement.rate_effective_from is not None:
            usd = format_cents(convert_total(m.unused_usd_micros, Decimal(1), 2))
            row |= {
                "PricingCurrency": "USD",
                "PricingCurrencyContractedUnitPrice": usd,
                "PricingCurrencyEffectiveCost": usd,
                "x_ExchangeRate": statement.exchange_rate,
            }
        rows.append(row)
    return rows
