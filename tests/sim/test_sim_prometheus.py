"""End to end: promtool backfills the history and a real Prometheus answers with what was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.conftest import END, SCRAPE_INTERVAL_SECONDS, START, History
from tests.sim.omparse import Labels
from tests.sim.prom import binaries_missing, create_blocks, query_range, running_prometheus

pytestmark = pytest.mark.slow

QUERIES = {
    "vllm:kv_cache_usage_perc": "",
    "DCGM_FI_DEV_FB_USED": "",
    "llm_tenant_kv_token_seconds": "_total",
}


def _written(history: History, family: str, suffix: str) -> dict[Labels, dict[int, float]]:
    return {
        tuple(sorted(labels)): dict(points)
        for (sample, labels), points in history.families[family].series.items()
        if sample == family + suffix
    }


def test_prometheus_serves_exactly_what_was_written(history: History, tmp_path: Path) -> None:
    reason = binaries_missing()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path / "data"
    create_blocks(history.result.openmetrics_path, data_dir)
    start, end = int(START.timestamp()), int(END.timestamp()) - SCRAPE_INTERVAL_SECONDS
    with running_prometheus(data_dir, tmp_path) as url:
        for family, suffix in QUERIES.items():
            written = _written(history, family, suffix)
            served = query_range(url, family + suffix, start, end, SCRAPE_INTERVAL_SECONDS)
            assert len(served) == len(written), family
            for metric, points in served:
                labels = tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))
                expected = written[labels]
                # A series born mid-window is absent before its first sample (no lookback fill).
                assert {t: v for t, v in points} == expected, (family, labels)
