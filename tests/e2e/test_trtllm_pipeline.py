"""A cluster on TensorRT-LLM end to end: the demo cluster with one pool on Triton's TensorRT-LLM backend
and one on trtllm-serve (32-token blocks), simulated, backfilled into Prometheus, collected through the
``dcgm``, ``trtllm-triton``, ``trtllm-serve`` and ``native`` presets (two sources on one Prometheus), and
attributed: the chargeback sums exactly to the bill, nothing is unmeasured, and the tenants' shares are
those the model gives on the simulator's ground truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from attribution.collectors.profiles import presets
from attribution.collectors.run import collect_window
from attribution.config import SourceConfig
from attribution.demo import demo_settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.reports.chargeback import Chargeback, build_chargeback
from attribution.sim.history import generate_history
from attribution.sim.scenarios import demo_cluster
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import KvSample
from tests.support import truth as ground_truth
from tests.support.postgres import fresh_database
from tests.support.services import missing_service
from tests.support.truth import l1_of_shares, model_on_truth

START = datetime(2026, 11, 2, tzinfo=UTC)
HOURS = 2
END = START + timedelta(hours=HOURS)
# demo_settings' prices: 4 H100 at $2.99 and 8 H200 at $3.79 per GPU-hour, $42.28 an hour.
BILL_USD_MICROS = 42_280_000 * HOURS
FP8_INFO = (
    'label_replace(max_over_time(nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max"}[$window]), '
    '"cache_dtype", "fp8", "", "")'
)


@pytest.fixture(scope="module")
def run(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Chargeback, dict[str, int], int]]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover
        missing_service("Prometheus", f"Prometheus is not installed ({exc}); `make test` installs it")
    work = tmp_path_factory.mktemp("trt-e2e")
    base = demo_cluster(seed=7, scrape_interval_seconds=15)
    engines = ("triton-trtllm", "trtllm-serve")
    pools = tuple(
        dataclasses.replace(p, engine=e, block_size=32) for p, e in zip(base.pools, engines, strict=True)
    )
    spec = dataclasses.replace(base, pools=pools)
    history = generate_history(spec, START, END, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    with fresh_database(pg_server) as url, LocalPrometheus(work / "tsdb") as prom:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = demo_settings(spec, url, prom.url)
        # TensorRT-LLM exports no KV dtype; the Triton pool runs an FP8 KV cache, so it is declared as the
        # docs say: the preset plus a cache_config_info series carrying cache_dtype.
        triton = presets()["trtllm-triton"]
        fp8 = triton.model_copy(update={"signals": {**triton.signals, "cache_config_info": FP8_INFO}})
        sources = [
            SourceConfig(name="cluster", url=prom.url, profiles=["dcgm", "trtllm-triton-fp8", "native"]),
            SourceConfig(name="trtllm-serve", url=prom.url, profiles=["trtllm-serve"]),
        ]
        settings = settings.model_copy(update={"sources": sources, "profiles": {"trtllm-triton-fp8": fp8}})
        collect_window(None, settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        with factory() as session:
            cb = build_chargeback(session, START, END, settings.interval_seconds)
            kv_rows = session.scalar(select(func.count()).select_from(KvSample)) or 0
        predicted = ground_truth.by_tenant(model_on_truth(spec, history, settings, START, END))
        yield cb, predicted, kv_rows
        engine.dispose()


def test_a_tensorrt_llm_cluster_is_billed_whole_and_as_the_truth_says(
    run: tuple[Chargeback, dict[str, int], int],
) -> None:
    cb, predicted, kv_rows = run
    assert kv_rows == 2 * 60 * HOURS  # both engines, every interval
    assert cb.complete
    assert cb.total_usd_micros == cb.cluster_cost_usd_micros == BILL_USD_MICROS
    assert all(t.unmeasured_cents == 0 for t in cb.tenants)
    got = {t.tenant: t.total_usd_micros for t in cb.tenants}
    l1 = l1_of_shares(got, predicted)
    print(f"TensorRT-LLM cluster: L1 of tenant cost shares against ground truth {l1:.5f}")
    assert l1 <= 0.01, l1
