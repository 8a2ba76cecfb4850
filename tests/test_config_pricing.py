"""GPU prices in the configuration: direct, or derived from a purchase; bad ones refused in one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attribution.cli import app
from attribution.config import Settings, load_settings
from attribution.config.pricing import PriceBasis
from attribution.errors import ConfigError
from attribution.model.derived_price import DerivedPoint

DERIVED = """
database_url = "sqlite:///x.db"
inventory = { "H100-SXM" = 8 }

[[gpu_prices]]
gpu_type = "H100-SXM"
effective_from = 2026-01-01T00:00:00Z

[gpu_prices.derived]
purchase_usd = "30000"
residual_usd = "3000"
depreciation_months = 36
watts_per_gpu = 700
pue = "1.3"
usd_per_kwh = "0.12"
colocation_usd_per_month = "1200"
gpus_per_colocation = 8
"""


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Settings:
    path = tmp_path / "attribution.toml"
    path.write_text(text)
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(path))
    return load_settings()


def test_a_derived_price_becomes_an_exact_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(tmp_path, monkeypatch, DERIVED)
    price = settings.gpu_prices[0]
    assert price.price_basis is PriceBasis.DERIVED
    point = price.point()
    assert isinstance(point, DerivedPoint)
    assert point.capex_usd_micros_per_gpu_month == 750_000_000
    assert point.colocation_usd_micros_per_gpu_month == 150_000_000
    assert point.power_usd_micros_per_gpu_hour == Fraction(109_200)
    # January 2026: (750 + 150 + 744 x 0.1092) / 744 = 1.318877... USD, rounded half up to the micro
    assert price.usd_micros_per_gpu_hour == 1_318_877
    # what-if in January 2029, fully depreciated: (150 + 744 x 0.1092) / 744 = 0.310813... USD
    jan29 = int(datetime(2029, 1, 20, tzinfo=UTC).timestamp())
    assert price.indicative_usd_micros_per_gpu_hour(jan29) == 310_813


def test_a_direct_price_names_its_basis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        'database_url = "sqlite:///x.db"\ninventory = { "H100-SXM" = 8 }\n[[gpu_prices]]\n'
        'gpu_type = "H100-SXM"\nusd_per_gpu_hour = "2.10"\nbasis = "spot"\n'
    )
    price = _load(tmp_path, monkeypatch, text).gpu_prices[0]
    assert (price.price_basis, price.usd_micros_per_gpu_hour) == (PriceBasis.SPOT, 2_100_000)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            "effective_from = 2026-01-01T00:00:00Z",
            "effective_from = 2026-01-15T00:00:00Z",
            "first instant of a UTC month",
        ),
        ('residual_usd = "3000"', 'residual_usd = "31000"', "residual_usd 31000 exceeds purchase_usd 30000"),
        ('pue = "1.3"', 'pue = "0.8"', "pue 0.8 must be between 1 and 10"),
        ('pue = "1.3"', "pue = 1.3", "pue must be a decimal string"),
        (
            "depreciation_months = 36",
            "depreciation_months = 0",
            "depreciation_months: Input should be greater",
        ),
        ('usd_per_kwh = "0.12"', 'usd_per_kwh = "0.1234567"', "has more than 6 decimal places"),
        ("gpus_per_colocation = 8", "gpus_per_rack = 8", "gpus_per_rack: Extra inputs are not permitted"),
        (
            "effective_from = 2026-01-01T00:00:00Z",
            'usd_per_gpu_hour = "2"\neffective_from = 2026-01-01T00:00:00Z',
            "exactly one",
        ),
        (
            "[gpu_prices.derived]\n",
            'basis = "reserved"\n[gpu_prices.derived]\n',
            "a derived price has basis 'derived'",
        ),
    ],
)
def test_bad_derived_prices_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replace: str, by: str, message: str
) -> None:
    assert replace in DERIVED
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, monkeypatch, DERIVED.replace(replace, by, 1))
    assert message in info.value.detail
    assert "\n" not in info.value.detail.strip()


def test_a_price_with_neither_form_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'database_url = "sqlite:///x.db"\ninventory = { "H100-SXM" = 8 }\n'
    text += '[[gpu_prices]]\ngpu_type = "H100-SXM"\n'
    with pytest.raises(ConfigError, match="give either usd_per_gpu_hour or a"):
        _load(tmp_path, monkeypatch, text)


def test_config_show_lists_a_derived_prices_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """January 2029, month 37: fully depreciated, so 150 USD colocation + 744 h x 0.1092 USD power."""
    _load(tmp_path, monkeypatch, DERIVED)
    result = CliRunner().invoke(app, ["config", "show", "--period", "2029-01"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    (h100,) = body["price_basis"]
    assert h100["usd_micros"] == 8 * (150_000_000 + 744 * 109_200)
    (price,) = h100["prices"]
    parts = {p["part"]: p["usd_per_gpu_month"] for p in price["parts"]}
    assert parts == {"capex": "0.000000", "power": "81.244800", "colocation": "150.000000"}
    assert "fully depreciated" in price["parts"][0]["basis"]
    assert "sqlite" not in result.output
