"""Every vLLM and SGLang shape in one cluster, on a real Prometheus, with telemetry gaps: KV placed,
coverage right, every dollar on a tenant, idle or ``__unmeasured__``.

Shapes (names and labels from /work/shared/reference/telemetry-sources.md, sections 1 and 2):

| pool | engine | KV gauge | ``engine`` label | capacity from |
|---|---|---|---|---|
| v09 | vLLM 0.9-0.10 | both names (old deprecated, still emitted) | yes | num_gpu_blocks x block_size |
| v11 | vLLM 0.11-0.12 | ``vllm:kv_cache_usage_perc`` only | yes | num_gpu_blocks x block_size |
| v33 | vLLM 0.33, two DP engines | ``vllm:kv_cache_usage_perc`` | ``0``, ``1`` | kv_cache_size_tokens |
| v0 | vLLM V0 (``engine`` absent) | ``vllm:gpu_cache_usage_perc`` only | no | num_gpu_blocks x block_size |
| sg | SGLang 0.5.23, TP 2, a pid per rank | ``sglang:token_usage`` | ``dp_rank`` | max_total_num_tokens |

The gateway (native contract) is flat (counters present, not increasing) in minutes 3-5 for v09, v33
and sg while their engines work, absent in minutes 6-7 for v0, and never reports v11 at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings, load_settings
from attribution.ledger.attribute import run_attribution
from attribution.reports.coverage import coverage_report
from attribution.store.tables import AttributedCost, KvSample, PoolCost
from tests.support.backends import serve
from tests.support.openmetrics import S0, T0, Exposition

MINUTES = 10
WINDOW = (T0, T0 + timedelta(minutes=MINUTES))
SCRAPES = range(S0 - 600, S0 + 900 + 1, 15)
H100 = {"modelName": "NVIDIA H100 80GB HBM3", "hostname": "node-1", "pod": "dcgm-exporter-x"}
FLAT = {"v09", "v33", "sg"}  # gateway counters flat in minutes 3-5
GAPS = {"v09": {3, 4, 5}, "v33": {3, 4, 5}, "sg": {3, 4, 5}, "v0": set(), "v11": set(range(MINUTES))}
#: v0's gateway series is absent in minutes 6-7 and resumes after: its increase across the silence is
#: spread over it (issue 20's outage rule), an estimate carried on the lines, not a gap
SPREAD = {"v0": {6, 7}}
#: (pool, served model name, tensor parallel, GPUs)
POOLS = [
    ("v09", "m-v09", 1, 1),
    ("v11", "m-v11", 1, 1),
    ("v33", "m-v33", 1, 2),
    ("v0", "m-v0", 1, 1),
    ("sg", "m-sg", 2, 2),
]
INFO_011 = {  # vLLM 0.11.0's CacheConfig labels (telemetry-sources.md 1.5), strings as exported
    "block_size": "16",
    "gpu_memory_utilization": "0.9",
    "swap_space": "4",
    "cache_dtype": "auto",
    "is_attention_free": "False",
    "num_gpu_blocks_override": "None",
    "sliding_window": "None",
    "enable_prefix_caching": "True",
    "prefix_caching_hash_algo": "sha256",
    "cpu_offload_gb": "0",
    "calculate_kv_scales": "False",
    "num_cpu_blocks": "2048",
    "kv_sharing_fast_prefill": "False",
    "kv_cache_memory_bytes": "None",
}


def _gauge(ex: Exposition, name: str, labels: dict[str, str], value: float, ts: int) -> None:
    ex.add(name, "gauge", name, labels, value, ts)


def _engines(ex: Exposition, ts: int) -> None:
    # vLLM 0.9-0.10: both names for one engine; running requests with model_name and engine
    v09 = {"model_name": "m-v09", "engine": "0", "pod": "v09-0"}
    for name in ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"):
        _gauge(ex, name, v09, 0.3, ts)
    _gauge(ex, "vllm:num_requests_running", v09, 4, ts)
    _gauge(
        ex,
        "vllm:cache_config_info",
        INFO_011 | {"num_gpu_blocks": "10000", "engine": "0", "pod": "v09-0"},
        1,
        ts,
    )
    # vLLM 0.11-0.12: the new name only
    v11 = {"model_name": "m-v11", "engine": "0", "pod": "v11-0"}
    _gauge(ex, "vllm:kv_cache_usage_perc", v11, 0.2, ts)
    _gauge(ex, "vllm:num_requests_running", v11, 2, ts)
    _gauge(
        ex,
        "vllm:cache_config_info",
        INFO_011 | {"num_gpu_blocks": "12000", "engine": "0", "pod": "v11-0"},
        1,
        ts,
    )
    # vLLM 0.33 with two data-parallel engines in one pod; kv_cache_size_tokens is the capacity
    for engine, usage in (("0", 0.1), ("1", 0.5)):
        v33 = {"model_name": "m-v33", "engine": engine, "pod": "v33-0"}
        _gauge(ex, "vllm:kv_cache_usage_perc", v33, usage, ts)
        _gauge(ex, "vllm:num_requests_running", v33, 3, ts)
        info = INFO_011 | {"num_gpu_blocks": "9999", "kv_cache_size_tokens": "150000", "engine": engine}
        _gauge(ex, "vllm:cache_config_info", info | {"pod": "v33-0"}, 1, ts)
    # vLLM V0: the old name, no engine label anywhere, the config as an Info
    v0 = {"model_name": "m-v0", "pod": "v0-0"}
    _gauge(ex, "vllm:gpu_cache_usage_perc", v0, 0.4, ts)
    _gauge(ex, "vllm:num_requests_running", v0, 5, ts)
    info0 = {"block_size": "16", "num_gpu_blocks": "8000", "cache_dtype": "auto", "pod": "v0-0"}
    _gauge(ex, "vllm:cache_config_info", info0, 1, ts)
    # SGLang 0.5.23, TP 2: one scheduler process (pid) per rank, each with the ranks' labels
    for tp, pid in (("0", "4101"), ("1", "4102")):
        sg = {"model_name": "m-sg", "engine_type": "unified", "tp_rank": tp, "pp_rank": "0", "dp_rank": "0"}
        sg |= {"pid": pid, "pod": "sg-0"}
        _gauge(ex, "sglang:token_usage", sg, 0.3 + 0.01 * int(tp), ts)
        _gauge(ex, "sglang:max_total_num_tokens", sg, 300_000, ts)
        _gauge(ex, "sglang:num_running_reqs", sg, 6, ts)
        _gauge(ex, "sglang:num_queue_reqs", sg, 1, ts)


def _gpus(ex: Exposition, ts: int) -> None:
    for pool, _, _, gpus in POOLS:
        for g in range(gpus):
            labels = H100 | {"gpu": str(g), "UUID": f"GPU-{pool}-{g}", "exported_pod": f"{pool}-0"}
            _gauge(ex, "DCGM_FI_DEV_FB_USED", labels, 70_000, ts)
            _gauge(ex, "DCGM_FI_DEV_FB_FREE", labels, 11_000, ts)


def _counting(pool: str, ts: int) -> bool:
    """Whether the gateway counted a request at this scrape: flat in minutes 3-5 for FLAT pools."""
    return not (pool in FLAT and S0 + 180 < ts <= S0 + 360)


def _gateway(ex: Exposition, ts: int, counted: dict[str, int]) -> None:
    for pool, model, _, _ in POOLS:
        if pool == "v11" or (pool == "v0" and S0 + 360 < ts <= S0 + 480):
            continue  # never reported / the gateway's series absent in minutes 6-7
        counted[pool] += _counting(pool, ts) and not (pool == "v0" and S0 + 360 < ts <= S0 + 480)
        labels = {"team": "alpha", "model": model, "tier": "0-4k"}
        for name, per in (("requests", 1), ("prompt_tokens", 500), ("generation_tokens", 50)):
            family = f"llm_tenant_{name}"
            ex.add(family, "counter", f"{family}_total", labels, per * counted[pool], ts)
        family = "llm_tenant_kv_token_seconds"
        ex.add(family, "counter", f"{family}_total", labels, 900.0 * counted[pool], ts)


def build() -> Exposition:
    ex = Exposition()
    counted: dict[str, int] = defaultdict(int)
    for ts in SCRAPES:
        _engines(ex, ts)
        _gpus(ex, ts)
        _gateway(ex, ts, counted)
    return ex


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("engine-shapes")
    with serve("prometheus", build().write(work / "history.om"), work) as url:
        yield url


def settings_for(url: str) -> Settings:
    pools = [
        {
            "name": name,
            "model": "llama-3.1-8b",
            "served_model_name": model,
            "tensor_parallel_size": tp,
            "gpu_selector": {"pod": f"{name}-.*"},
        }
        for name, model, tp, _ in POOLS
    ]
    return load_settings(
        database_url="sqlite://",
        inventory={"H100-SXM": sum(p[3] for p in POOLS)},
        gpu_prices=[{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "2.99"}],
        pools=pools,
        tenants={"label": "team"},
        line_grain_seconds=60,
        sources=[{"name": "prom", "url": url, "profiles": ["dcgm", "vllm", "native"]}],
    )


@pytest.fixture
def collected(prometheus: str, pg_tx: sessionmaker[Session]) -> sessionmaker[Session]:
    settings = settings_for(prometheus)
    collect_window(PromClient(prometheus), settings, pg_tx, *WINDOW)
    sg = settings.model_copy(
        update={"sources": [settings.sources[0].model_copy(update={"name": "sg", "profiles": ["sglang"]})]}
    )
    collect_window(PromClient(prometheus), sg, pg_tx, *WINDOW)
    run_attribution(settings, pg_tx, *WINDOW)
    return pg_tx


def test_every_engine_s_kv_is_placed(collected: sessionmaker[Session]) -> None:
    with collected() as session:
        rows = session.scalars(select(KvSample)).all()
    engines: dict[tuple[str, str], set[tuple[float, int | None, float | None]]] = defaultdict(set)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        engines[(r.pool, r.engine_id)].add(
            (round(r.kv_usage_ratio, 6), r.kv_capacity_tokens, r.requests_running)
        )
        counts[(r.pool, r.engine_id)] += 1
    assert dict(engines) == {
        ("v09", "v09-0/0"): {(0.3, 160_000, 4.0)},  # both names: one row a minute, not two
        ("v11", "v11-0/0"): {(0.2, 192_000, 2.0)},
        ("v33", "v33-0/0"): {(0.1, 150_000, 3.0)},  # kv_cache_size_tokens, not 9,999 x 16
        ("v33", "v33-0/1"): {(0.5, 150_000, 3.0)},
        ("v0", "v0-0/0"): {(0.4, 128_000, 5.0)},  # no engine label: engine 0
        ("sg", "sg-0/0"): {(0.305, 300_000, 6.0)},  # two ranks, two pids: one engine
    }
    assert set(counts.values()) == {MINUTES}


def test_gateway_coverage_is_missing_where_the_engine_worked_unreported(
    collected: sessionmaker[Session],
) -> None:
    with collected() as session:
        report = coverage_report(session, *WINDOW, 60)
    by_pool = {p.pool: p for p in report.pools}
    assert set(by_pool) == {name for name, *_ in POOLS}
    for pool, minutes in GAPS.items():
        assert (by_pool[pool].engine_active, by_pool[pool].missing) == (MINUTES, len(minutes)), pool
        starts = {int((g.start - T0).total_seconds()) // 60 for g in by_pool[pool].gaps}
        ends = {int((g.end - T0).total_seconds()) // 60 for g in by_pool[pool].gaps}
        if minutes and pool != "v11":
            assert (starts, ends) == ({min(minutes)}, {max(minutes) + 1}), pool
    # the gateway source says where it spread v0's silence: estimated, not present
    (gateway,) = [x for x in report.sources if x.collector == "gateway"]
    assert gateway.estimated == len(SPREAD["v0"])
    assert {int((g.start - T0).total_seconds()) // 60 for g in gateway.gaps if g.status == "estimated"} == {
        min(SPREAD["v0"])
    }


def test_gaps_are_unmeasured_and_every_dollar_is_on_a_line(collected: sessionmaker[Session]) -> None:
    """In the window every GPU is sampled in a pool, so its lines sum to its pools' costs (the rest of the
    hour the run widens to has no telemetry: unsampled GPUs, on the cluster's ``__unmeasured__`` line)."""
    with collected() as session:
        lines = session.scalars(select(AttributedCost).where(AttributedCost.interval_start < WINDOW[1])).all()
        pools = session.scalars(select(PoolCost).where(PoolCost.interval_start < WINDOW[1])).all()
    assert len(pools) == MINUTES * len(POOLS)
    total = sum(line.total_usd_micros for line in lines)
    assert total == sum(p.cost_usd_micros for p in pools) > 0
    by_cell: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for line in lines:
        by_cell[(line.pool, int((line.interval_start - T0).total_seconds()) // 60)].append(line)
    for p in pools:
        minute = int((p.interval_start - T0).total_seconds()) // 60
        cell = by_cell[(p.pool, minute)]
        gap = minute in GAPS[p.pool]
        assert p.unmeasured_usd_micros == (p.kv_in_use_usd_micros + p.static_usd_micros if gap else 0)
        tenants = [x for x in cell if x.tenant == "alpha"]
        unmeasured = sum(x.unmeasured_usd_micros for x in cell if x.tenant == "__unmeasured__")
        if gap:  # no tenant pays KV or static for a gap; its tenants' cost is unmeasured
            assert all(x.kv_in_use_usd_micros == x.static_usd_micros == 0 for x in tenants), (p.pool, minute)
            assert unmeasured >= p.unmeasured_usd_micros > 0
        else:
            assert sum(x.kv_in_use_usd_micros + x.static_usd_micros for x in tenants) == (
                p.kv_in_use_usd_micros + p.static_usd_micros
            )
    # v0's silent minutes: alpha pays them from the spread usage, and every such line says estimated
    spread = [
        x
        for x in lines
        if x.pool == "v0" and int((x.interval_start - T0).total_seconds()) // 60 in SPREAD["v0"]
    ]
    assert spread and all(x.estimated for x in spread)
    assert any(x.tenant == "alpha" and x.kv_in_use_usd_micros > 0 for x in spread)
    # v11's gateway never reported: its whole cost is unmeasured, never alpha's (who used other pools)
    v11 = [x for x in lines if x.pool == "v11"]
    assert {x.tenant for x in v11} == {"__unmeasured__"}
    assert sum(x.unmeasured_usd_micros for x in v11) == sum(
        p.cost_usd_micros for p in pools if p.pool == "v11"
    )
