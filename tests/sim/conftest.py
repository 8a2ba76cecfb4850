"""One simulated 3-hour history shared by the simulator tests (about a second to generate and parse)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attribution.sim import ClusterSpec, HistoryResult, demo_cluster, generate_history
from tests.sim.omparse import ParsedFamily, parse_openmetrics

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(hours=3)
SCRAPE_INTERVAL_SECONDS = 15
INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class History:
    spec: ClusterSpec
    result: HistoryResult
    families: dict[str, ParsedFamily]
    truth: dict[str, Any]
    intervals: list[dict[str, str]]
    pool_intervals: list[dict[str, str]]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = demo_cluster(seed=7, scrape_interval_seconds=SCRAPE_INTERVAL_SECONDS)
    out = tmp_path_factory.mktemp("history")
    result = generate_history(spec, START, END, out, interval_seconds=INTERVAL_SECONDS)
    return History(
        spec=spec,
        result=result,
        families=parse_openmetrics(result.openmetrics_path),
        truth=json.loads(result.truth_path.read_text(encoding="utf-8")),
        intervals=read_csv(result.truth_intervals_path),
        pool_intervals=read_csv(result.truth_pool_intervals_path),
    )
