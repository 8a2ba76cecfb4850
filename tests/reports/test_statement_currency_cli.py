"""`attribution report statement --currency`: the configured billing currency, a tenant's own, and a
currency without a rate refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from attribution.cli import app
from attribution.ledger.attribute import run_attribution
from attribution.model.currency import convert_total
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.billing_history import hourly_settings, load
from tests.support.cli_configs import HOURLY_CONFIG

runner = CliRunner()
CURRENCIES = """
billing_currency = "EUR"
tenant_billing_currencies = { hooli = "JPY" }
"""
RATES = """
[[exchange_rates]]
from = "USD"
to = "EUR"
rate = "0.9215"
effective_from = 2026-11-01T00:00:00Z

[[exchange_rates]]
from = "USD"
to = "JPY"
rate = "143.27"
effective_from = 2026-10-01T00:00:00Z
"""


@pytest.fixture
def billed_in_eur(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Three days of November on SQLite, attributed, in a deployment that bills in EUR."""
    db = tmp_path / "reports.db"
    config = tmp_path / "attribution.toml"
    config.write_text(CURRENCIES + HOURLY_CONFIG.format(db=db) + RATES)
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(f"sqlite:///{db}")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    factory = make_sessionmaker(engine)
    load(factory, start, 72)
    settings = hourly_settings(database_url=f"sqlite:///{db}")
    run_attribution(settings, factory, start, start + timedelta(days=3))
    yield engine
    engine.dispose()


def statement(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["report", "statement", "--period", "2026-11", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    body: dict[str, object] = json.loads(result.output)
    return body


def test_the_configured_and_the_tenant_currency(billed_in_eur: Engine) -> None:
    whole = statement()
    assert (whole["billing_currency"], whole["exchange_rate"]) == ("EUR", "0.9215")
    lines = whole["lines"]
    assert isinstance(lines, list) and isinstance(whole["total_usd_micros"], int)
    assert sum(x["total_billing_minor"] for x in lines) == whole["total_billing_minor"]
    assert whole["total_billing_minor"] == convert_total(whole["total_usd_micros"], Decimal("0.9215"), 2)
    hooli = statement("--tenant", "hooli")
    assert (hooli["billing_currency"], hooli["billing_exponent"]) == ("JPY", 0)
    assert {x["tenant"] for x in hooli["lines"]} == {"hooli"}  # type: ignore[attr-defined]
    usd = statement("--currency", "USD")
    assert usd["total_billing_minor"] == usd["total_cents"]


def test_the_table_names_the_currency_and_rate(billed_in_eur: Engine) -> None:
    result = runner.invoke(app, ["report", "statement", "--period", "2026-11"])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())  # the caption wraps at the table's width
    assert "Statement 2026-11 (open, EUR)" in words
    assert "1 USD = 0.9215 EUR (rate from 2026-11-01T00:00:00Z)" in words


def test_a_currency_without_a_rate_is_one_line(billed_in_eur: Engine) -> None:
    args = ["report", "statement", "--period", "2026-11", "--currency", "GBP"]
    done = subprocess.run(
        [sys.executable, "-m", "attribution.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "error (currency_error): no USD->GBP exchange rate is in effect at 2026-11-01T00:00:00Z (start of "
        '2026-11); add [[exchange_rates]] from = "USD" to = "GBP" with effective_from <= 2026-11-01T00:00:00Z'
    ]
