"""A real Prometheus ingests both modes: history backfilled with promtool, and live endpoints scraped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from attribution.sim import scenario
from attribution.sim.live import LiveCluster
from attribution.sim.targets import gpu_inventory
from tests.sim.omparse import Labels
from tests.sim.prom import (
    binaries_missing,
    create_blocks,
    free_port_run,
    query,
    query_range,
    running_prometheus,
)
from tests.support.services import missing_service
from tests.support.sim_history import END, SCRAPE_INTERVAL_SECONDS, START, History

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


@pytest.fixture(autouse=True)
def _prometheus_installed() -> None:
    reason = binaries_missing()
    if reason:
        missing_service("Prometheus", reason)


def test_prometheus_serves_exactly_the_backfilled_history(history: History, tmp_path: Path) -> None:
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
                # A series born mid-window is absent before its first sample (no lookback fill).
                assert {t: v for t, v in points} == written[labels], (family, labels)


def _wait_for(url: str, promql: str, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], float]]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(url, promql)
        if len(result) >= count or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_prometheus_scrapes_every_live_target(tmp_path: Path) -> None:
    """The mixed scenario (every exporter, SGLang too) served live at 10x and scraped every second."""
    spec = scenario("mixed", seed=2)
    probe = LiveCluster(spec, port_base=20_000, warmup_seconds=0)
    port_base = free_port_run(len(probe.targets))
    live = LiveCluster(spec, port_base=port_base, speed=10.0, warmup_seconds=120)
    with live, running_prometheus(tmp_path / "data", tmp_path, live.prometheus_config("1s")) as url:
        up = _wait_for(url, "up == 1", len(live.targets))
        assert {m["instance"] for m, _ in up} == {t.target.instance for t in live.targets}
        time.sleep(2.5)  # a few scrapes each
        assert live.error is None
        kv = query(url, "vllm:kv_cache_usage_perc")
        assert {m["pod"] for m, _ in kv} == {f"{p.name}-0" for p in spec.pools if p.engine == "vllm"}
        for metric, value in kv:
            assert metric["job"] == "vllm" and metric["instance"] == f"{metric['pod']}:8000"
            assert metric["namespace"] == "inference" and metric["engine"] == "0" and 0 <= value <= 1
        (sglang,) = query(url, "sglang:max_total_num_tokens")
        assert sglang[0]["job"] == "sglang" and sglang[1] > 0
        fb = query(url, "DCGM_FI_DEV_FB_USED")
        assert len(fb) == len(gpu_inventory(spec)) and all("hostname" in m for m, _ in fb)
        growing = query(url, "rate(llm_tenant_kv_token_seconds_total[3s]) > 0")
        assert growing and all(m["job"] == "gateway" for m, _ in growing)
        teams = query(url, "sum by (team_alias) (litellm_input_tokens_metric_total)")
        assert {m["team_alias"] for m, _ in teams} >= {"acme-chat", "globex-rag"}
        usage = query(url, 'gen_ai_client_token_usage_count{gen_ai_token_type="input"}')
        assert usage and all(m["job"] == "otel-collector" and "tenant_id" in m for m, _ in usage)
    assert live.sim_seconds > 30.0
