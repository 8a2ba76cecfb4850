"""Reading rendered statements back as a reader would: HTML tables by id, XLSX sheets, amounts in cents."""

from __future__ import annotations

import io
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import openpyxl


def cents(text: str) -> int:
    """'1,435.20' or '-0.79' as integer cents (exact: no float)."""
    return int(Decimal(text.replace(",", "")) * 100)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(document: str) -> dict[str, list[list[str]]]:
    """Every table of the document by id: a list of rows (header first), each a list of cell texts."""
    parser = _Tables()
    parser.feed(document)
    return parser.tables


def html_view(document: str, table_id: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """A view table's body rows and its total (footer) row, as dicts by column header.

    The footer's first cell spans the key columns, so its cells are aligned from the right."""
    rows = html_tables(document)[table_id]
    header, *body = rows
    *data, total = body
    return [dict(zip(header, r, strict=True)) for r in data], dict(
        zip(header[-len(total) + 1 :], total[1:], strict=True)
    )


def xlsx_sheets(blob: bytes) -> dict[str, list[list[Any]]]:
    wb = openpyxl.load_workbook(io.BytesIO(blob))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def xlsx_cents(value: Any) -> int:
    """A money cell read back (openpyxl gives floats for numbers) as cents, exactly for 2-place values."""
    return int((Decimal(str(value)) * 100).to_integral_value())
