"""Simulated histories shared by the simulator tests (each a few seconds to generate and parse).

* ``history``: three hours of the demo cluster (vLLM, dcgm-exporter with ``Hostname``, the native gateway).
* ``mixed``: 30 minutes of the ``mixed`` scenario: every exporter (SGLang, LiteLLM, OpenTelemetry too) and
  dcgm-exporter's later ``hostname`` spelling.
* ``restart``: two hours of the ``restart`` scenario (outages one hour in), without histograms.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attribution.sim import ClusterSpec, HistoryResult, demo_cluster, generate_history, scenario
from tests.sim.omparse import Labels, ParsedFamily, parse_openmetrics

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
    start: datetime
    end: datetime

    def values(self, name: str, suffix: str = "") -> dict[Labels, np.ndarray]:
        """Per series of sample ``name + suffix``: its values in time order."""
        return {
            labels: np.array([v for _, v in points])
            for (sample, labels), points in self.families[name].series.items()
            if sample == name + suffix
        }

    def points(self, name: str, suffix: str = "") -> dict[Labels, dict[int, float]]:
        return {
            labels: dict(points)
            for (sample, labels), points in self.families[name].series.items()
            if sample == name + suffix
        }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def make_history(spec: ClusterSpec, start: datetime, end: datetime, out: Path, **options: Any) -> History:
    result = generate_history(spec, start, end, out, interval_seconds=INTERVAL_SECONDS, **options)
    return History(
        spec=spec,
        result=result,
        families=parse_openmetrics(result.openmetrics_path),
        truth=json.loads(result.truth_path.read_text(encoding="utf-8")),
        intervals=read_csv(result.truth_intervals_path),
        pool_intervals=read_csv(result.truth_pool_intervals_path),
        start=start,
        end=end,
    )


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = demo_cluster(seed=7, scrape_interval_seconds=SCRAPE_INTERVAL_SECONDS)
    return make_history(spec, START, END, tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = scenario("mixed", seed=3)
    return make_history(spec, END - timedelta(minutes=30), END, tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="session")
def restart(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = scenario("restart", seed=5)
    out = tmp_path_factory.mktemp("restart")
    return make_history(spec, END - timedelta(hours=2), END, out, include_histograms=False)
