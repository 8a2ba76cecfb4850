"""Budget settings: exact money, one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attribution.budgets.signing import read_secret, signature, verify
from attribution.config import load_settings
from attribution.errors import ConfigError


def settings(**values: Any) -> Any:
    return load_settings(database_url="sqlite://", **values)


def test_budget_amount_is_exact_micro_usd() -> None:
    s = settings(budgets=[{"tenant": "acme-chat", "monthly_usd": "12000.000001", "thresholds": [100, 50]}])
    assert s.budgets[0].monthly_usd_micros == 12_000_000_001
    assert s.budgets[0].thresholds == [50, 100]
    assert s.budgets[0].name == "tenant:acme-chat"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"budgets": [{"monthly_usd": 12000.0}]}, "budgets.0.monthly_usd"),
        ({"budgets": [{"monthly_usd": "0"}]}, "more than 0"),
        ({"budgets": [{"monthly_usd": "1", "thresholds": [50, 50]}]}, "distinct"),
        ({"budgets": [{"tenant": "__idle__", "monthly_usd": "1"}]}, "reserved"),
        ({"budgets": [{"monthly_usd": "1"}, {"monthly_usd": "2"}]}, "one budget per tenant"),
        ({"budget_webhook": {"url": "https://h.example/x"}}, "url needs secret_file"),
        ({"budget_webhook": {"url": "ftp://h", "secret_file": "/s"}}, "http:// or https://"),
    ],
)
def test_a_bad_budget_setting_is_one_clear_line(values: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        settings(**values)
    assert "\n" not in caught.value.detail


def test_secret_file_errors_name_the_file_not_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        read_secret(tmp_path / "absent")
    short = tmp_path / "short"
    short.write_text("hunter2")
    with pytest.raises(ConfigError, match="holds 7 bytes") as caught:
        read_secret(short)
    assert "hunter2" not in caught.value.detail


def test_signature_covers_timestamp_and_body() -> None:
    sig = signature(b"k" * 16, 1_700_000_000, b'{"a":1}')
    assert verify(b"k" * 16, "1700000000", b'{"a":1}', sig)
    assert not verify(b"k" * 16, "1700000001", b'{"a":1}', sig)
    assert not verify(b"k" * 16, "1700000000", b'{"a":2}', sig)
    assert not verify(b"j" * 16, "1700000000", b'{"a":1}', sig)
    assert not verify(b"k" * 16, "17e8", b'{"a":1}', sig)
