"""Settings: TOML plus environment, validated with errors that name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from attribution.config import load_settings, tier_names, usd_to_micros
from attribution.errors import ConfigError
from attribution.model.vocabulary import RESERVED_NAMES

GOOD = """
database_url = "sqlite:///x.db"
interval_seconds = 60
inventory = { "H100-SXM" = 4 }

[[gpu_prices]]
gpu_type = "H100-SXM"
usd_per_gpu_hour = "2.99"
effective_from = 2026-01-01T00:00:00Z

[[pools]]
name = "small"
model = "mistral-small-24b"
served_model_name = "mistralai/Mistral-Small-24B-Instruct-2501"
tensor_parallel_size = 2
gpu_selector = { pod = "small-.*" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "attribution.toml"
    path.write_text(text)
    return path


def test_toml_file_is_read_and_money_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, GOOD)))
    settings = load_settings()
    assert settings.database_url == "sqlite:///x.db"
    assert settings.gpu_prices[0].usd_micros_per_gpu_hour == 2_990_000
    assert settings.pool("small").tensor_parallel_size == 2
    assert settings.tiers.names == ["0-4k", "4k-32k", "32k-128k", "128k+"]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, GOOD)))
    monkeypatch.setenv("ATTRIBUTION_DATABASE_URL", "postgresql://db/x")
    assert load_settings().database_url == "postgresql://db/x"


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('"2.99"', '"2.9999999"', "gpu_prices.0.usd_per_gpu_hour: Value error, 2.9999999 has more than 6"),
        ('"2.99"', "2.99", "money must be a decimal string"),
        ("interval_seconds = 60", "interval_seconds = 70", "interval_seconds: Value error, must divide 3600"),
        ('model = "mistral-small-24b"', 'model = "gpt-9"', "pools.0.model: Value error, unknown model"),
        (
            'pod = "small-.*"',
            'pod = "small-("',
            "pools.0.gpu_selector: Value error, label 'pod': bad regular",
        ),
        (  # valid alone, not with the ASCII flag the collector matches it with
            'pod = "small-.*"',
            'pod = "(?u)small-.*"',
            "label 'pod': '(?u)small-.*' asks for Unicode classes ((?u)); selectors match ASCII classes",
        ),
        (  # a scoped flag compiles with re.ASCII, and would match Arabic-Indic digits
            'pod = "small-.*"',
            'pod = "small-(?u:\\\\d)+"',
            "asks for Unicode classes ((?u)); selectors match ASCII classes, as Prometheus' RE2 does",
        ),
        ('pod = "small-.*"', 'pod = "small-a{4294967296}"', "label 'pod': bad regular expression"),
        ('inventory = { "H100-SXM" = 4 }', 'inventory = { "H200-SXM" = 4 }', "has no entry in gpu_prices"),
        ("interval_seconds = 60", "interval_secs = 60", "interval_secs: Extra inputs are not permitted"),
        (
            'name = "small"',
            'name = "__idle__"',
            "pools.0.name: Value error, pool name '__idle__' is reserved",
        ),
    ],
)
def test_bad_config_names_the_key_and_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replace: str, by: str, message: str
) -> None:
    assert replace in GOOD
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, GOOD.replace(replace, by))))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert message in info.value.detail


#: Where a config names a pool or a tenant, with the key the error must name.
NAMED = {
    "pool": ('name = "small"', 'name = "{}"', "pools.0.name", "pool name"),
    "known tenant": (
        "inventory =",
        '[tenants]\nknown = ["acme", "{}"]\n\ninventory =',
        "tenants.known",
        "tenant",
    ),
    "reserving tenant": (
        "[[pools]]",
        '[[reservations]]\ntenant = "{}"\npool = "small"\nfraction = "0.5"\n'
        "effective_from = 2026-01-01T00:00:00Z\n\n[[pools]]",
        "reservations.0.tenant",
        "tenant",
    ),
}


@pytest.mark.parametrize("reserved", sorted(RESERVED_NAMES))
@pytest.mark.parametrize("place", sorted(NAMED))
def test_a_reserved_name_is_refused_wherever_a_config_names_a_pool_or_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: str, reserved: str
) -> None:
    """Every name the model books its own lines under (its vocabulary, so a new one is covered here
    too): a pool or tenant so named would merge with those lines. Tiers are not named in a config (their
    names come from ``tiers.boundaries_tokens``), so none can be reserved."""
    replace, by, key, what = NAMED[place]
    assert replace in GOOD
    monkeypatch.setenv(
        "ATTRIBUTION_CONFIG", str(write(tmp_path, GOOD.replace(replace, by.format(reserved), 1)))
    )
    with pytest.raises(ConfigError) as info:
        load_settings()
    detail = info.value.detail
    assert "\n" not in detail
    assert f"{key}: Value error, {what} {reserved!r} is reserved for the model's own lines" in detail
    assert not set(tier_names([4096, 32768, 131072])) & RESERVED_NAMES


def test_malformed_toml_and_missing_file_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, "pools = [")))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_tier_names_follow_boundaries() -> None:
    assert tier_names([4096, 32768, 131072]) == ["0-4k", "4k-32k", "32k-128k", "128k+"]
    assert tier_names([1000, 200 * 1024]) == ["0-1000", "1000-200k", "200k+"]


def test_usd_to_micros_is_exact() -> None:
    assert usd_to_micros("0.000001") == 1
    assert usd_to_micros("3.79") == 3_790_000
    with pytest.raises(ValueError, match="negative"):
        usd_to_micros("-1")


def test_the_example_config_in_deploy_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[1] / "deploy" / "attribution.example.toml"
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(example))
    settings = load_settings()
    assert [p.name for p in settings.pools] == ["mistral-small-24b", "llama-405b"]
    assert settings.inventory == {"H100-SXM": 4, "H200-SXM": 8}


def test_reservations_must_fit_in_their_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reservation = (
        '\n[[reservations]]\ntenant = "{}"\npool = "small"\nfraction = {}\n'
        "effective_from = 2026-01-01T00:00:00Z\n"
    )
    over = GOOD + reservation.format("t0", '"0.6"') + reservation.format("t1", '"0.6"')
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, over)))
    with pytest.raises(ConfigError, match="pool 'small' is reserved beyond 1"):
        load_settings()
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, GOOD + reservation.format("t", "0.5"))))
    with pytest.raises(
        ConfigError, match=r"reservations\.0\.fraction: Value error, fractions must be decimal"
    ):
        load_settings()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'billing_currency = "EURO"',
            "invalid configuration: billing_currency: Value error, unknown currency code 'EURO' "
            "(ISO 4217, e.g. EUR, JPY)",
        ),
        (
            'billing_currency = "EUR"',
            "invalid configuration: <root>: Value error, billing currency EUR has no exchange rate; add "
            '[[exchange_rates]] from = "USD" to = "EUR" rate = "..." effective_from = "..."',
        ),
        (
            '[[exchange_rates]]\nfrom = "EUR"\nto = "JPY"\nrate = "160.1"\n'
            "effective_from = 2026-11-01T00:00:00Z",
            "invalid configuration: <root>: Value error, exchange_rates.0.from: EUR is not the pricing "
            "currency USD; give rates from USD",
        ),
        (
            '[[exchange_rates]]\nfrom = "USD"\nto = "EUR"\nrate = 0.92\n'
            "effective_from = 2026-11-01T00:00:00Z",
            "invalid configuration: exchange_rates.0.rate: Value error, a rate must be a decimal string "
            '(rate = "0.9215"), not a float',
        ),
    ],
)
def test_bad_currency_config_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
    text = GOOD + extra if extra.startswith("[[") else extra + "\n" + GOOD  # a table goes last
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, text)))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == message


def test_exchange_rates_are_exact_and_dated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rates = '[[exchange_rates]]\nfrom = "USD"\nto = "EUR"\nrate = "0.9215"\n'
    rates += "effective_from = 2026-11-01T00:00:00Z\n"
    text = 'billing_currency = "EUR"\ntenant_billing_currencies = { acme = "EUR" }\n' + GOOD + rates
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(write(tmp_path, text)))
    settings = load_settings()
    (rate,) = settings.rates()
    assert (rate.source, rate.to, str(rate.rate)) == ("USD", "EUR", "0.9215")
    assert settings.billing_currency_for("acme") == settings.billing_currency_for() == "EUR"
