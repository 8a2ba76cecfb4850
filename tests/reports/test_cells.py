"""One escape for every cell of every spreadsheet-bound file, property-tested over generated names.

The oracle here is written apart from :mod:`attribution.reports.cells`: a cell is dangerous when, after
what importers strip (blanks, control characters), its first character is one of ``= + - @`` in any form
that folds to it (fullwidth, small) or the minus sign; a safe cell is one that is not dangerous, begins with
``'``, or is a plain number.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import replace
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.reports.cells import safe_cell, safe_text
from attribution.reports.export import lines_csv
from attribution.reports.focus import focus_csv
from attribution.reports.lineitems import LineItem
from attribution.reports.xlsx import build_statement_xlsx
from tests.support.hostile import FORMULAS, START

SIGNS = "=+-@"
#: Fullwidth (U+FF1D, U+FF0B, U+FF0D, U+FF20) and small (U+FE66, U+FE62, U+FE63, U+FE6B) forms, minus sign.
LOOKALIKES = "\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212"
LINE = LineItem("acme", "small", "0-4k", 1, 2, 3, 1.0, 2.0, -10, 0, 0, 0, -10, False, total_cents=-1)


def dangerous(text: str) -> bool:
    if not text:
        return False
    first = text[0]
    return (
        first.isspace()
        or unicodedata.category(first) == "Cc"
        or first in SIGNS
        or first in LOOKALIKES
        or unicodedata.normalize("NFKC", first)[:1] in set(SIGNS)
    )


def is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit()


def assert_safe(text: str) -> None:
    assert text.startswith("'") or is_number(text) or not dangerous(text), repr(text)


hostile_names = st.one_of(
    st.text(min_size=1, max_size=12),
    st.tuples(
        st.sampled_from([*SIGNS, *LOOKALIKES, " ", "\t", "\r", "\n", "\u3000", "\u00a0"]), st.text(max_size=8)
    ).map("".join),
)


@settings(max_examples=300)
@given(name=hostile_names)
def test_safe_text_leaves_no_cell_a_spreadsheet_would_run(name: str) -> None:
    escaped = safe_text(name)
    assert escaped in (name, "'" + name)  # readable: at most one quote in front
    assert_safe(escaped)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (" =1+1", "' =1+1"),
        ("\uff1dHYPERLINK(1)", "'\uff1dHYPERLINK(1)"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20cmd", "'\uff20cmd"),
        ("\r=1", "'\r=1"),
        ("-1.230000", "-1.230000"),  # a negative amount is a number
        ("-", "'-"),
        ("acme", "acme"),
        (-1, -1),
        (Decimal("-1.23"), Decimal("-1.23")),
        (None, None),
    ],
)
def test_safe_cell(cell: object, written: object) -> None:
    assert safe_cell(cell) == written


@settings(max_examples=100)
@given(tenant=hostile_names, pool=hostile_names, tier=hostile_names)
def test_every_csv_cell_is_safe_and_amounts_stay_numbers(tenant: str, pool: str, tier: str) -> None:
    line = replace(LINE, tenant=tenant, pool=pool, tier=tier)
    rows = list(csv.reader(io.StringIO(lines_csv(START, START, [(line, -1)]), newline="")))
    for cell in rows[1]:
        assert_safe(cell)
    written = dict(zip(rows[0], rows[1], strict=True))
    assert written["total_usd"] == "-0.000010" and written["total_usd_rounded"] == "-0.01"
    focus = {"BilledCost": "-0.01", "BillingAccountName": tenant, "x_Pool": pool, "x_ContextTier": tier}
    out = next(csv.DictReader(io.StringIO(focus_csv([focus]), newline="")))
    assert out["BilledCost"] == "-0.01"
    for value in out.values():
        assert_safe(value)


@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.just(None))
def test_a_tenant_statement_summary_cannot_hold_a_formula(
    hostile: tuple[Settings, sessionmaker[Session]],
    _: None,
) -> None:
    """The tenant's own name is on the Summary sheet (its scope): it must be text, not a live formula."""
    settings_, factory = hostile
    for tenant in FORMULAS:
        with factory() as session:
            book = openpyxl.load_workbook(
                io.BytesIO(build_statement_xlsx(session, settings_, "2026-11", tenant=tenant))
            )
        cells = [c for ws in book for row in ws.iter_rows() for c in row if c.value is not None]
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        for c in cells:
            if isinstance(c.value, str):
                assert_safe(c.value)
        summary = dict(book["Summary"].iter_rows(values_only=True))
        assert summary["scope"] == "'" + tenant
