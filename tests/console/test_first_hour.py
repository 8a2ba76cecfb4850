"""A newcomer's first hour, item by item (issue 16): each test names the surprise it guards against."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import openpyxl
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.api.app import create_app
from attribution.cli import app, cli_command
from attribution.config import load_settings
from attribution.demo import close_and_restate, demo_window
from attribution.errors import NotFoundError
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_html import build_statement_html
from attribution.reports.xlsx import build_statement_xlsx
from attribution.store.session import make_engine, make_sessionmaker
from tests.console.seed import MONTH_START, console_settings, seed
from tests.support.api import create_api_key

REPO = Path(__file__).resolve().parents[2]
BY_BOUNDARY = ["4k-32k", "128k+"]  # initech-agents' tiers; as text, "128k+" sorts first


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    """The CLI as ``attribution`` runs it: ``cli_command()`` (help texts made plain), not the bare app."""
    with mock.patch("typer.testing._get_command", lambda _: cli_command()):
        return CliRunner().invoke(app, args, env=env)


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        out += _paths(sub, (*prefix, name))
    return out


def test_help_is_plain_text_without_restructuredtext_or_bool_metavars() -> None:
    for path in _paths(cli_command()):
        result = _invoke([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        for raw in ("``", ":class:", ":func:", "<bool>"):
            assert raw not in result.output, (path, raw, result.output)


def test_report_tiers_offers_only_the_formats_it_accepts() -> None:
    text = _invoke(["report", "tiers", "--help"]).output
    assert "<table|json>" in text and "csv" not in text
    refused = _invoke(["report", "tiers", "--period", "2026-11", "--price-list", "x", "--format", "csv"])
    assert refused.exit_code == 2 and "csv" in refused.output


@pytest.fixture
def seeded(sqlite_factory: sessionmaker[Session], sqlite_url: str) -> str:
    seed(sqlite_factory, console_settings())
    return sqlite_url


def test_report_tiers_of_an_unknown_pool_is_an_error_as_in_the_api(seeded: str) -> None:
    price_list = str(REPO / "deploy" / "pricing" / "flat.toml")
    args = ["report", "tiers", "--period", "2026-11", "--price-list", price_list, "--pool", "nopool"]
    result = _invoke(args, env={"ATTRIBUTION_DATABASE_URL": seeded})
    assert isinstance(result.exception, NotFoundError) and "no pool named 'nopool'" in str(result.exception)
    known = _invoke([*args[:-1], "small"], env={"ATTRIBUTION_DATABASE_URL": seeded})
    assert known.exit_code == 0, known.output


def test_cli_money_has_thousands_separators_and_two_decimals(seeded: str) -> None:
    result = _invoke(
        ["report", "chargeback", "--period", "2026-11"], env={"ATTRIBUTION_DATABASE_URL": seeded}
    )
    assert result.exit_code == 0, result.output
    assert "cluster cost 8,611.20 USD" in result.output
    assert re.search(r"\b\d{4,}\.\d{2}\b", result.output) is None, result.output  # no 8611.20
    assert ".000000" not in result.output


def test_tiers_sort_by_boundary_in_the_api_html_and_xlsx(
    seeded: str, sqlite_factory: sessionmaker[Session]
) -> None:
    settings = console_settings()
    key = create_api_key(sqlite_factory, "finance")
    client = TestClient(create_app(settings, sqlite_factory))
    answer = client.get(
        "/v1/chargeback",
        params={"period": "2026-11", "group_by": "tenant_tier", "tenant": "initech-agents"},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert [g["tier"] for g in answer["tenants"]] == BY_BOUNDARY
    with sqlite_factory() as session:
        html = build_statement_html(session, settings, "2026-11", "initech-agents")
        book = openpyxl.load_workbook(
            io.BytesIO(build_statement_xlsx(session, settings, "2026-11", "initech-agents"))
        )
    table = html[html.index('id="tenant-tiers"') :]
    assert table.index("<td>4k-32k</td>") < table.index("<td>128k+</td>")
    sheet = next(ws for ws in book.worksheets if "tier" in ws.title.lower())
    tiers = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "initech-agents"]
    assert tiers == BY_BOUNDARY


def test_the_statement_of_a_partial_month_does_not_call_its_total_the_bill(
    seeded: str, sqlite_factory: sessionmaker[Session]
) -> None:
    with sqlite_factory() as session:
        partial = build_statement_html(session, console_settings(), "2026-12")
        whole = build_statement_html(session, console_settings(), "2026-11")
    assert "(the bill)" not in partial and "not yet the bill" in partial
    assert "cluster cost for the period (the bill)" in whole


def test_the_month_demo_window_is_the_previous_month_and_this_one_so_far() -> None:
    now = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    assert demo_window(7, True, now) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC))
    january = datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert demo_window(7, True, january)[0] == datetime(2026, 12, 1, tzinfo=UTC)
    assert demo_window(7, False, now) == (
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 12, 3, tzinfo=UTC),
    )


def test_the_month_demo_closes_the_month_and_bills_the_restatement_as_corrections(
    pg_factory: sessionmaker[Session],
) -> None:
    settings = console_settings()
    seed(pg_factory, settings, close=False)
    period, corrections = close_and_restate(settings, pg_factory, MONTH_START)
    assert period == "2026-11" and corrections > 0
    with pg_factory() as session:
        closed, open_ = build_statement(session, "2026-11"), build_statement(session, "2026-12")
    assert closed.status == "closed" and all(x.charge_class == "usage" for x in closed.lines)
    billed = [x for x in open_.lines if x.charge_class == "correction" and x.charge_period == "2026-11"]
    # H100s cost 3.29 instead of 2.99 from day 21: ten days x 24 h x 4 GPUs x 0.30 = 288.00 more
    assert sum(x.total_cents for x in billed) == 28_800


def test_compose_checks_readiness_of_the_database_only() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose" / "compose.yaml").read_text())
    probe = " ".join(compose["services"]["api"]["healthcheck"]["test"])
    assert "/readyz?scope=database" in probe


def test_the_docs_examples_use_the_demo_tenant() -> None:
    for doc in ("docs/api.md", "docs/reports.md", "docs/console.md"):
        text = (REPO / doc).read_text()
        assert "acme-chat" in text, doc
        assert re.search(r"(tenant:|--tenant |tenants/)acme\b(?!-)", text) is None, doc


def test_make_venv_silences_the_setuptools_editable_install_warning() -> None:
    install = next(line for line in (REPO / "Makefile").read_text().splitlines() if "-e '.[dev]'" in line)
    assert "PYTHONWARNINGS=ignore" in install


@pytest.mark.slow
def test_make_demo_shows_its_stages_and_how_to_explore_quietly(tmp_path: Path) -> None:
    """The real ``attribution demo`` for one day: numbered stages, no log noise, and a key that signs in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    done = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "demo", "--days", "1", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for i in range(1, 6):
        assert f"[{i}/5] " in output, output
    assert "alembic" not in output and " INFO " not in output and "Warning" not in output, output
    url = re.search(r"export ATTRIBUTION_DATABASE_URL=(\S+)", output)
    key = re.search(r"admin, every page: +(attr_\S+)", output)
    assert url and key and "attribution serve" in output, output
    assert not (tmp_path / "attribution.db").exists()  # nothing left behind in the working directory
    factory = make_sessionmaker(make_engine(url.group(1)))
    client = TestClient(create_app(load_settings(database_url=url.group(1)), factory))
    signed_in = client.post("/console/login", data={"key": key.group(1)})
    assert signed_in.status_code == 200 and "acme-chat" in signed_in.text
