"""Three simulated hours (written to files by the simulator) and how the simulator tests read them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from attribution.sim import ClusterSpec, HistoryResult, generate_history
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
