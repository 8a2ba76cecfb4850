"""The store asks which database it talks to in one place, and reports ask the store for their data."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from attribution.store.collection_state import CollectorWatermark
from attribution.store.dialect import is_postgres, upsert_insert
from attribution.store.expressions import table_of

PACKAGE = Path(__file__).resolve().parents[2] / "attribution"


def test_is_postgres_answers_for_every_kind_of_bind() -> None:
    pg = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connects
    lite = create_engine("sqlite://")
    for engine, expected in ((pg, True), (lite, False)):
        assert is_postgres(engine) is expected
        assert is_postgres(engine.dialect) is expected
        assert is_postgres(Session(engine)) is expected
    table = table_of(CollectorWatermark)
    assert isinstance(upsert_insert(pg, table), postgresql.Insert)
    assert isinstance(upsert_insert(lite, table), sqlite.Insert)


def test_only_the_dialect_module_names_a_dialect() -> None:
    offenders = [
        p.name
        for p in (PACKAGE / "store").glob("*.py")
        if p.name != "dialect.py"
        and re.search(r"dialect\.name|dialects\.(postgresql|sqlite) import insert", p.read_text())
    ]
    assert offenders == []


def test_reports_write_no_sql() -> None:
    """Every query of a report (or of the budgets) is a named function of the store."""
    pattern = re.compile(r"\bselect\(|session\.(execute|scalars)\(|\btext\(|from sqlalchemy import")
    modules = [*(PACKAGE / "reports").glob("*.py"), *(PACKAGE / "budgets").glob("*.py")]
    offenders = [p.name for p in modules if pattern.search(p.read_text())]
    assert offenders == []
