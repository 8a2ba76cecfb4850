"""The FOCUS 1.2 export: it passes the FinOps Foundation's focus-validator 2.2.1, and the money rules the
validator does not check hold (quantity x unit price = cost; sums per invoice and per billing period equal
the statement; x_ prefixes; Z timestamps).

Data: two calendar months of a small cluster at hourly intervals, five tenants in four context tiers.
November is closed, then late usage for November arrives and is re-attributed, so December's statement
carries correction lines (ChargeClass=Correction, charge period November); December is closed and both
are exported through the API, as a billing system would fetch them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from attribution.model.currency import convert_total
from attribution.reports.focus import FOCUS_COLUMNS, PRICING_CURRENCY_COLUMNS, X_COLUMNS
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_currency import in_currency
from attribution.store.apikeys import create_key
from attribution.store.cluster import cluster_cost_and_gpu_intervals
from attribution.store.pools import cost_and_gpu_intervals_by_pool
from attribution.store.session import unit_of_work
from attribution.store.tables import TenantUsage
from attribution.store.writes import upsert
from attribution.timeutil import period_window
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

REPO = Path(__file__).resolve().parents[2]
FOCUS_VENV = REPO / ".venv-focus"
#: Two whole months before today (named for their roles: the first closed, the second open, then closed);
#: nothing is attributed before it has happened.
NOV, DEC, JAN = (
    datetime(2026, 10, 1, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 12, 1, tzinfo=UTC),
)
#: (tenant, tier, token-seconds per hour, every n hours): a demo-like mix of steady and bursty tenants
TENANTS = [
    ("acme", "0-4k", 4e7, 1),
    ("acme", "4k-32k", 2e8, 3),
    ("globex", "0-4k", 2.5e7, 1),
    ("initech", "32k-128k", 6e8, 7),
    ("umbrella", "128k+", 9e8, 5),
    ("hooli", "4k-32k", 1.2e8, 2),
]
#: The validator's one unavoidable failure: InvoiceId is an OR of "MUST be NULL" and "MUST NOT be NULL"
#: leaves, one of which always fails while the parent rule passes (finops.md 2.4).
ALLOWED_FAILURES = {"InvoiceId-C-004-C", "InvoiceId-C-005-C"}


def _python312() -> bool:
    for name in ("python3.13", "python3.12"):
        if (
            shutil.which(name)
            and subprocess.run([name, "-c", "1"], check=False, capture_output=True).returncode == 0
        ):
            return True
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    return any(pyenv.glob("3.1[2-9]*/bin/python3"))


#: Rates for the converted exports (asked for with ``?currency=``; the deployment still bills in USD).
RATES = [
    {"from": "USD", "to": "EUR", "rate": "0.9215", "effective_from": "2026-01-01T00:00:00Z"},
    {"from": "USD", "to": "JPY", "rate": "143.27", "effective_from": "2026-01-01T00:00:00Z"},
]
CURRENCIES = ("USD", "EUR", "JPY")


#: Pool ``small`` (2 H100 at 2.99 USD/h) committed for October 2026 to December 2026; October's share,
#: floor(15,000,000,001 / 3) = 5,000,000,000 micro-USD, is more than the pool's 2 x 2.99 x 744 h.
COMMITMENT = {
    "name": "small-q4",
    "amount_usd": "15000.000001",
    "term_start": "2026-10-01T00:00:00Z",
    "term_end": "2027-01-01T00:00:00Z",
    "pool": "small",
}


def hourly_settings() -> Settings:
    return small_cluster_settings(interval_seconds=3600, exchange_rates=RATES, commitments=[COMMITMENT])


def load_month(factory: sessionmaker[Session], start: datetime, hours: int) -> None:
    usage = [
        create_usage_row(h * 60, tenant, tier, seconds, start=start, requests=1 + h % 4)
        for tenant, tier, seconds, every in TENANTS
        for h in range(0, hours, every)
    ]
    minutes = hours * 60
    store(
        factory,
        create_gpu_rows(minutes, step_minutes=60, start=start),
        create_kv_rows(minutes, 0.3, step_minutes=60, start=start),
        usage,
    )


@pytest.fixture
def exported(exports: dict[tuple[str, str], str]) -> dict[str, str]:
    """Each period's export in USD, the pricing and default billing currency."""
    return {period: text for (period, currency), text in exports.items() if currency == "USD"}


@pytest.fixture
def exports(pg_tx: sessionmaker[Session]) -> dict[tuple[str, str], str]:
    """November closed, late November usage re-attributed (a correction), December closed; both exported
    in USD, EUR and JPY."""
    settings = hourly_settings()
    load_month(pg_tx, NOV, 31 * 24)
    load_month(pg_tx, DEC, 30 * 24)
    run_attribution(settings, pg_tx, NOV, JAN)
    client = TestClient(create_app(settings, pg_tx))
    with unit_of_work(pg_tx) as session:
        client.headers["Authorization"] = "Bearer " + create_key(session, ["finance"]).token
    assert client.post("/v1/periods/2026-10/close", headers={"Idempotency-Key": "nov"}).status_code == 200
    late = [create_usage_row(h * 60, "globex", "4k-32k", 3e8, start=NOV) for h in range(100, 110)]
    with unit_of_work(pg_tx) as session:
        upsert(session, TenantUsage, late)
    run_attribution(settings, pg_tx, NOV, DEC)
    assert client.post("/v1/periods/2026-11/close", headers={"Idempotency-Key": "dec"}).status_code == 200
    out = {}
    for period in ("2026-10", "2026-11"):
        for currency in CURRENCIES:
            response = client.get("/v1/exports/focus.csv", params={"period": period, "currency": currency})
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            out[(period, currency)] = response.text
    return out


def rows_of(text: str, unused: bool = False) -> list[dict[str, str]]:
    """The statement's rows; with ``unused``, the unused commitments' rows (no tenant's) instead."""
    rows = csv.DictReader(io.StringIO(text))
    return [r for r in rows if (r["x_CommitmentDiscountStatus"] == "Unused") == unused]


def run_validator(data: Path, workdir: Path) -> tuple[set[str], int]:
    """Failed rule ids and the number of rules run, from the validator's JUnit output (its exit code is
    0 even when rules fail). It opens ``focus_validator/rules/currency_codes.csv`` relative to its working
    directory, so that path is linked there."""
    rules = next(FOCUS_VENV.glob("lib/python3.*/site-packages/focus_validator/rules"))
    (workdir / "focus_validator" / "rules").mkdir(parents=True)
    (workdir / "focus_validator" / "rules" / "currency_codes.csv").symlink_to(rules / "currency_codes.csv")
    report = workdir / "report.xml"
    command = [str(FOCUS_VENV / "bin" / "focus-validator"), "--data-file", str(data), "--validate-version"]
    command += ["1.2", "--block-download", "--output-type", "unittest", "--output-destination", str(report)]
    done = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert report.is_file(), f"focus-validator wrote no report (rc {done.returncode}): {done.stderr[-2000:]}"
    failed, total = set(), 0
    for case in ET.parse(report).iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(case.get("name", "").split(" ")[0].split(":")[0])
    return failed, total


@pytest.mark.skipif(not _python312(), reason="focus-validator 2.2.1 needs Python 3.12+, absent here")
def test_the_export_passes_focus_validator(exports: dict[tuple[str, str], str], tmp_path: Path) -> None:
    assert (FOCUS_VENV / "bin" / "focus-validator").is_file(), (
        "focus-validator is not installed: run `make services` (scripts/ensure-focus-validator.sh)"
    )
    for (period, currency), text in exports.items():
        data = tmp_path / f"focus-{period}-{currency}.csv"
        data.write_text(text)
        workdir = tmp_path / f"{period}-{currency}"
        workdir.mkdir()
        failed, total = run_validator(data, workdir)
        assert total > 100, f"the validator ran only {total} rules"
        assert failed <= ALLOWED_FAILURES, (
            f"{period} {currency}: rules failed: {sorted(failed - ALLOWED_FAILURES)}"
        )


def test_quantity_times_unit_price_is_the_cost(exports: dict[tuple[str, str], str]) -> None:
    for text in exports.values():
        for row in rows_of(text):
            if row["ChargeClass"] == "Correction":
                assert row["PricingQuantity"] == row["PricingUnit"] == ""  # FOCUS: may be null
                continue
            unit_price = Decimal(row["ContractedUnitPrice"])
            product = Decimal(row["PricingQuantity"]) * unit_price
            # the quantity is rounded to 1e-10 GPU-hours: off by at most half a step times the unit price
            # (under 1e-9 at USD prices; a yen price is ~143 times larger, and so is its bound)
            bound = Decimal("1E-9") if row["BillingCurrency"] == "USD" else unit_price * Decimal("5E-11")
            assert abs(product - Decimal(row["ContractedCost"])) <= bound, row
            assert row["PricingUnit"] == "GPU-Hours"
            assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]


def test_sums_per_invoice_and_period_equal_the_statement(
    exported: dict[str, str], pg_tx: sessionmaker[Session]
) -> None:
    for period, text in exported.items():
        rows = rows_of(text)
        with pg_tx() as session:
            statement = build_statement(session, period)
        assert statement.status == "closed"
        by_invoice: dict[str, Decimal] = {}
        for row in rows:
            assert row["InvoiceId"] == f"CB-{period}-{row['BillingAccountId']}"
            by_invoice[row["InvoiceId"]] = by_invoice.get(row["InvoiceId"], Decimal(0)) + Decimal(
                row["BilledCost"]
            )
        per_tenant: dict[str, int] = {}
        for line in statement.lines:
            per_tenant[line.tenant] = per_tenant.get(line.tenant, 0) + line.total_cents
        assert by_invoice == {f"CB-{period}-{t}": Decimal(c) / 100 for t, c in per_tenant.items()}
        assert sum(by_invoice.values()) == Decimal(statement.total_cents) / 100
        assert {r["x_StatementHash"] for r in rows} == {statement.content_hash}


def test_a_converted_export_bills_the_converted_statement(
    exports: dict[tuple[str, str], str], pg_tx: sessionmaker[Session]
) -> None:
    """BilledCost sums to the statement converted (docs/currencies.md); the USD figures stay beside it."""
    for (period, currency), text in exports.items():
        if currency == "USD":
            continue
        rows = rows_of(text)
        with pg_tx() as session:
            statement = build_statement(session, period)
            billed = in_currency(session, statement, "USD", currency, hourly_settings().rates())
        exponent = {"EUR": 2, "JPY": 0}[currency]
        assert {(r["BillingCurrency"], r["PricingCurrency"]) for r in rows} == {(currency, "USD")}
        total = sum(Decimal(r["BilledCost"]) for r in rows)
        assert total == Decimal(billed.total_billing_minor).scaleb(-exponent)
        assert billed.total_billing_minor == convert_total(
            statement.total_usd_micros, billed_rate(currency), exponent
        )
        assert (
            sum(Decimal(r["PricingCurrencyEffectiveCost"]) for r in rows)
            == Decimal(statement.total_cents) / 100
        )
        header = next(csv.reader(io.StringIO(text)))
        assert header == FOCUS_COLUMNS + PRICING_CURRENCY_COLUMNS + X_COLUMNS + ["x_ExchangeRate"]


def billed_rate(currency: str) -> Decimal:
    return Decimal(next(r["rate"] for r in RATES if r["to"] == currency))


def test_corrections_are_billed_in_the_open_period_against_the_original(exported: dict[str, str]) -> None:
    december = rows_of(exported["2026-11"])
    corrections = [r for r in december if r["ChargeClass"] == "Correction"]
    assert corrections, "the late November usage should be billed in December as corrections"
    for row in corrections:
        assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
        )
        assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
        )
    assert any(r["BillingAccountId"] == "globex" and Decimal(r["BilledCost"]) > 0 for r in corrections)
    assert not any(r["ChargeClass"] for r in rows_of(exported["2026-10"]))


def test_columns_timestamps_and_numbers_follow_focus_formats(exported: dict[str, str]) -> None:
    text = exported["2026-11"]
    header = next(csv.reader(io.StringIO(text)))
    assert header == FOCUS_COLUMNS + X_COLUMNS
    assert all(c.startswith("x_") for c in header[len(FOCUS_COLUMNS) :])
    for row in rows_of(text):
        for column in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
            datetime.strptime(row[column].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        for column in ("BilledCost", "ContractedCost", "ContractedUnitPrice", "PricingQuantity"):
            assert row[column] == "" or "." in row[column], (column, row[column])  # never inferred as BIGINT
        assert row["ProviderName"] == row["InvoiceIssuerName"] == row["PublisherName"]


def test_the_kinds_of_idle_sum_to_idle_on_every_row_corrections_too(exported: dict[str, str]) -> None:
    kinds = ("x_IdleColdCost", "x_IdleWarmCost", "x_KvHeadroomCost")
    rows = [row for text in exported.values() for row in rows_of(text)]
    for row in rows:
        assert sum(Decimal(row[k]) for k in kinds) == Decimal(row["x_IdleCost"]), row
    assert any(r["ChargeClass"] == "Correction" and Decimal(r["x_IdleCost"]) for r in rows)
    assert all(any(Decimal(r[k]) for r in rows) for k in ("x_IdleColdCost", "x_KvHeadroomCost"))


def test_allocation_columns_split_each_pools_cost_exactly(
    exported: dict[str, str], pg_tx: sessionmaker[Session]
) -> None:
    """x_AllocatedMethodDetails (FOCUS 1.3's AllocatedMethodDetails, docs/focus.md): each usage row's
    components sum to its cost; over a pool's rows the amounts sum to the pool's cost as stored by the
    attribution run, and the ratios to 1 (to their printed 1e-12 each)."""
    for period, text in exported.items():
        amounts: dict[str, int] = {}
        ratios: dict[str, Decimal] = {}
        rows = 0
        for row in rows_of(text):
            if row["ChargeClass"] == "Correction":
                assert row["x_AllocatedMethodId"] == row["x_AllocatedMethodDetails"] == "", row
                continue
            rows += 1
            assert row["x_AllocatedMethodId"] == "memory-time-v1"
            details = json.loads(row["x_AllocatedMethodDetails"])
            elements = details["Elements"]
            assert {e["x_Component"] for e in elements} == {"kv_in_use", "static", "idle", "unmeasured"}
            assert sum(e["x_AmountUsdMicros"] for e in elements) == int(row["x_CostUsdMicros"])
            pool = row["x_Pool"]
            assert details["x_OriginResourceId"] == f"pool/{pool}"
            assert row["x_AllocatedResourceId"].startswith(f"tenant/{row['BillingAccountId']}/")
            amounts[pool] = amounts.get(pool, 0) + sum(e["x_AmountUsdMicros"] for e in elements)
            ratios[pool] = ratios.get(pool, Decimal(0)) + sum(
                Decimal(str(e["AllocatedRatio"])) for e in elements
            )
            assert details["x_OriginCostUsdMicros"] > 0
        start, end = period_window(period)
        with pg_tx() as session:
            stored = {str(p): int(c) for p, c, _ in cost_and_gpu_intervals_by_pool(session, start, end)}
            cluster, _ = cluster_cost_and_gpu_intervals(session, start, end)
        # each pool's rows split its stored cost; the rest (GPUs in no pool) is the cluster's own origin
        assert rows and {p: amounts[p] for p in stored} == stored
        assert sum(amounts.values()) == int(cluster)
        for pool, total in ratios.items():
            assert abs(total - 1) <= Decimal("1E-12") * 4 * rows, (pool, total)


def test_each_commitments_unused_part_is_its_own_row_hand_worked(
    exports: dict[tuple[str, str], str], pg_tx: sessionmaker[Session]
) -> None:
    """October: 5,000.000000 USD of the commitment against the pool's cost as attributed; November:
    floor(2 x 15,000,000,001 / 3) - 5,000,000,000 = 5,000,000,000 again. The unused row bills no tenant
    and its USD figure is the amortised amount less the pool's cost, exactly."""
    for (period, currency), text in exports.items():
        start, end = period_window(period)
        with pg_tx() as session:
            pools = {str(p): int(c) for p, c, _ in cost_and_gpu_intervals_by_pool(session, start, end)}
        (row,) = rows_of(text, unused=True)
        assert 0 < pools["small"] < 5_000_000_000
        assert int(row["x_CostUsdMicros"]) == 5_000_000_000 - pools["small"]
        assert (row["BillingAccountId"], row["x_Pool"], row["InvoiceId"]) == (
            "__unused__",
            "__commitment__",
            f"CB-{period}-__unused__",  # both periods are closed
        )
        assert row["x_CommitmentDiscountName"] == "small-q4"
        assert Decimal(row["PricingQuantity"]) * Decimal(row["ContractedUnitPrice"]) == Decimal(
            row["BilledCost"]
        )
        if currency == "USD":
            cents = convert_total(int(row["x_CostUsdMicros"]), Decimal(1), 2)
            assert Decimal(row["BilledCost"]) == Decimal(cents) / 100
        assert all(r["x_CommitmentDiscountStatus"] == "" for r in rows_of(text))
