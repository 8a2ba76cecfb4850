"""Every name that money is booked under has one form, whatever digits, look-alikes or invisible
characters reach the CLI and the API: periods are ASCII ``YYYY-MM``; tenant and pool names are NFC and
hold nothing a reader cannot see. Hypothesis builds the look-alikes from the Unicode database."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from attribution.cli import app as cli
from attribution.model.names import InvalidNameError, canonical_name
from attribution.store.apikeys import InvalidScopeError, validate_scope
from attribution.store.tables import Period
from tests.support.api import Api

#: Every Unicode decimal digit, by value: Arabic-Indic, fullwidth, NKo...
DIGITS = {
    d: [
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if unicodedata.category(c) == "Nd" and unicodedata.digit(c) == d
    ]
    for d in range(10)
}
#: Characters a reader cannot see or that reorder text: controls, zero-width, bidi marks and overrides.
INVISIBLE = [
    "\x00",
    "\t",
    "\x1b",
    "\x7f",
    "\x85",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u00ad",
    "\u061c",
    "\u3164",
    "\ufe0f",
    "\u00a0",
    "\u3000",
    "\u2028",
]
#: Look-alikes NFKC folds to ASCII: fullwidth letters and signs, ligatures, superscripts.
COMPATIBLE = [
    "\uff41",
    "\uff43",
    "\uff4d",
    "\uff45",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
    "\ufb01",
    "\u00b2",
    "\u212f",
]
settings_ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def lookalike_periods(draw: st.DrawFn) -> str:
    """``2026-11`` with some digits written in another script, or an invisible character inserted."""
    chars = [draw(st.sampled_from(DIGITS[int(c)])) if c.isdigit() else c for c in "2026-11"]
    if draw(st.booleans()) or all(c.isascii() for c in chars):
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(INVISIBLE)))
    return "".join(chars)


@st.composite
def lookalike_names(draw: st.DrawFn) -> str:
    """``acme`` with an invisible character inside or a letter in a compatibility form."""
    chars = list("acme")
    if draw(st.booleans()):
        chars.insert(draw(st.integers(0, 4)), draw(st.sampled_from(INVISIBLE)))
    else:
        chars[draw(st.integers(0, 3))] = draw(st.sampled_from(COMPATIBLE))
    return "".join(chars)


@settings_
@given(period=lookalike_periods())
def test_the_api_refuses_every_other_name_of_a_month(api: Api, period: str) -> None:
    closed = api.post(f"/v1/periods/{quote(period, safe='')}/close", "finance", {"Idempotency-Key": "k"})
    assert closed.status_code == 422, (period, closed.text)
    assert closed.json()["error"] == "invalid_request" or "YYYY-MM" in closed.json()["detail"]
    assert api.get("/v1/chargeback", "finance", period=period).status_code == 422
    assert api.get(f"/v1/periods/{quote(period, safe='')}/statement", "finance").status_code == 422
    with api.factory() as session:
        stored = session.scalars(select(Period.period)).all()
    assert all(p.isascii() for p in stored), stored


@settings_
@given(name=lookalike_names())
def test_the_api_refuses_look_alike_and_invisible_names(api: Api, name: str) -> None:
    for params in ({"tenant": name}, {"pool": name}):
        answer = api.get("/v1/chargeback", "finance", start="2026-11-01", end="2026-11-02", **params)
        assert answer.status_code == 422, (name, answer.text)
    usage = api.get(f"/v1/tenants/{quote(name, safe='')}/usage", "finance", period="2026-11")
    assert usage.status_code == 422, (name, usage.text)
    with pytest.raises(InvalidScopeError):
        validate_scope(f"tenant:{name}")


def test_a_name_is_stored_in_nfc() -> None:
    decomposed = "Mu\u0308ller"
    assert validate_scope(f"tenant:{decomposed}") == "tenant:M\u00fcller"
    assert canonical_name("Acme Corp") == "Acme Corp"
    for bad in (" acme", "acme ", "", "a" * 201):
        with pytest.raises(InvalidNameError):
            canonical_name(bad)


@pytest.fixture
def cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "attribution.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "cli.db"}"\n')
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(period=lookalike_periods(), name=lookalike_names())
def test_the_cli_refuses_them_too(cli_config: None, period: str, name: str) -> None:
    runner = CliRunner()
    closed = runner.invoke(cli, ["period", "close", period, "--idempotency-key", "k"])
    assert closed.exit_code != 0 and "ASCII digits" in closed.output, closed.output
    statement = runner.invoke(cli, ["report", "statement", "--period", period, "--format", "json"])
    assert statement.exit_code != 0 and "ASCII digits" in statement.output
    created = runner.invoke(cli, ["keys", "create", "--scope", f"tenant:{name}"])
    assert created.exit_code != 0 and "key id" not in created.output
    assert "closed" not in runner.invoke(cli, ["period", "list"]).output
