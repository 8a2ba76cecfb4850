"""Efficiency, cost structure and what-if read from an attributed Postgres database.

Two sources: a small pool built by hand (two engines of one GPU each, every figure worked out in the
test), and the simulator's two-hour history collected from a real Prometheus and attributed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from attribution.reports.efficiency import efficiency
from attribution.reports.whatif import Change, WhatIfError, what_if
from attribution.store.tables import AttributedCost, KvSample, PoolCost
from tests.builders import (
    KV_CAPACITY_TOKENS,
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.simulated import END, START

HOUR_END = T0.replace(hour=T0.hour + 1)
PRICE_MICROS = 2_990_000  # H100-SXM per GPU-hour in small_cluster_settings


def two_engine_settings(**pool: Any) -> Settings:
    """Pool ``small`` as two replicas of one GPU each (tensor-parallel 1)."""
    values = {
        "name": "small",
        "model": "mistral-small-24b",
        "served_model_name": "mistralai/Mistral-Small-24B-Instruct-2501",
        "tensor_parallel_size": 1,
        "gpu_selector": {"pod": "small-.*"},
        **pool,
    }
    return small_cluster_settings(pools=[values])


@pytest.fixture
def two_engines(pg_tx: sessionmaker[Session]) -> sessionmaker[Session]:
    """An hour of two engines each at 0.9 KV use and 3 requests running, two tenants' traffic."""
    kv = create_kv_rows(60, 0.9)
    kv += [{**r, "engine_id": "small-1/0"} for r in kv]
    usage = [create_usage_row(m, "acme", "0-4k", 1e6, requests=3, prompt_tokens=900) for m in range(60)]
    usage += [
        create_usage_row(m, "globex", "32k-128k", 2e6, requests=1, prompt_tokens=40_000) for m in range(60)
    ]
    store(pg_tx, create_gpu_rows(60, pool_gpus=2), kv, usage)
    run_attribution(two_engine_settings(), pg_tx, T0, HOUR_END)
    return pg_tx


def test_efficiency_by_hand(two_engines: sessionmaker[Session]) -> None:
    settings = two_engine_settings(max_num_seqs=8, target_occupancy="0.75")
    with two_engines() as session:
        report = efficiency(session, settings, "small", T0, HOUR_END)
        tokens = session.execute(
            select(func.sum(AttributedCost.prompt_tokens + AttributedCost.generation_tokens))
        ).scalar_one()
        cost = session.execute(select(func.sum(PoolCost.cost_usd_micros))).scalar_one()
    (day,) = report.days
    assert day.cost_usd_micros == cost  # two GPUs for an hour, as attributed per interval
    assert abs(cost - 2 * PRICE_MICROS) <= 60  # within a micro-dollar per interval of GPUs x price
    assert day.batch_occupancy == Decimal("0.375000")  # 3 running of 8 per engine
    assert day.occupancy_basis == "batch"
    assert day.kv_usage_ratio == Decimal("0.900000")
    assert day.gpu_util_percent == Decimal("50.00")
    assert day.gpu_seconds == 2 * 3600
    assert day.tokens == tokens and day.tokens_per_gpu_second == (Decimal(tokens) / 7200).quantize(
        Decimal("1e-6")
    )
    # at 0.375 of a 0.75 target, half the cost bought headroom
    assert day.headroom_usd_micros == cost // 2
    assert day.usd_per_million_tokens_at_target == (Decimal(cost - cost // 2) / tokens).quantize(
        Decimal("1e-6"), ROUND_HALF_EVEN
    )


def test_headroom_cost_is_zero_at_target_occupancy(two_engines: sessionmaker[Session]) -> None:
    settings = two_engine_settings(max_num_seqs=4, target_occupancy="0.75")  # 3 of 4 running
    with two_engines() as session:
        (day,) = efficiency(session, settings, "small", T0, HOUR_END).days
    assert day.batch_occupancy == Decimal("0.75")
    assert day.headroom_usd_micros == 0
    assert day.usd_per_million_tokens == day.usd_per_million_tokens_at_target


def test_cost_structure_partitions_the_pool_cost(two_engines: sessionmaker[Session]) -> None:
    with two_engines() as session:
        s = efficiency(session, two_engine_settings(), "small", T0, HOUR_END).structure
        lines = session.execute(
            select(func.sum(AttributedCost.total_usd_micros)).where(
                AttributedCost.tier == "32k-128k", AttributedCost.pool == "small"
            )
        ).scalar_one()
        cost = session.execute(select(func.sum(PoolCost.cost_usd_micros))).scalar_one()
    parts = s.tokens_usd_micros + s.memory_usd_micros + s.idle_usd_micros + s.recovery_usd_micros
    assert parts == s.cost_usd_micros == cost
    assert s.long_context_tiers == ["32k-128k", "128k+"]
    assert s.long_context_usd_micros == lines > 0
    assert s.tokens_share == (Decimal(s.tokens_usd_micros) / s.cost_usd_micros).quantize(Decimal("1e-6"))


def test_one_replica_fewer_does_not_fit_the_measured_peak(two_engines: sessionmaker[Session]) -> None:
    with two_engines() as session:
        fewer = what_if(session, two_engine_settings(), "small", T0, HOUR_END, Change(replicas=1))
        bf16 = what_if(session, two_engine_settings(), "small", T0, HOUR_END, Change(kv_dtype="auto"))
    now = fewer.current
    assert (now.gpus, now.deployment.replicas, now.deployment.kv_dtype) == (2, 2, "fp8")
    assert now.kv_capacity_tokens_per_replica == KV_CAPACITY_TOKENS  # calibrated on what the engines said
    assert now.window_cost_usd_micros == 2 * PRICE_MICROS  # GPUs x price x hours
    assert abs(fewer.measured_cost_usd_micros - now.window_cost_usd_micros) <= 60
    peak = round(2 * 0.9 * KV_CAPACITY_TOKENS)  # both engines at 0.9 in the same interval
    assert fewer.load.peak_kv_tokens == peak
    assert now.peak_kv_tokens_per_replica == peak // 2 and now.kv_fits
    assert fewer.proposed.peak_kv_tokens_per_replica == peak > KV_CAPACITY_TOKENS
    assert not fewer.proposed.kv_fits
    assert fewer.proposed.window_cost_usd_micros == PRICE_MICROS
    assert fewer.proposed.usd_micros_per_month == PRICE_MICROS * 730
    # the engines ran an FP8 cache: BF16 doubles the bytes per token and halves the tokens that fit
    assert bf16.proposed.deployment.kv_bytes_per_token == 2 * now.deployment.kv_bytes_per_token
    assert bf16.proposed.kv_capacity_tokens_per_replica == KV_CAPACITY_TOKENS // 2
    assert not bf16.proposed.kv_fits


def test_what_if_refuses_what_it_cannot_price(two_engines: sessionmaker[Session]) -> None:
    with two_engines() as session:
        with pytest.raises(WhatIfError, match="'B200' has no price in gpu_prices"):
            what_if(session, two_engine_settings(), "small", T0, HOUR_END, Change(gpu_type="B200"))
        with pytest.raises(WhatIfError, match="must divide the model's 32 attention heads"):
            what_if(session, two_engine_settings(), "small", T0, HOUR_END, Change(tensor_parallel=3))
        with pytest.raises(WhatIfError, match="unknown GPU type 'Z'"):
            what_if(session, two_engine_settings(), "small", T0, HOUR_END, Change(gpu_type="Z"))


def test_simulated_efficiency_matches_the_rows(simulated_db: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, factory = simulated_db
    for pool in settings.pools:
        with factory() as session:
            report = efficiency(session, settings, pool.name, START, END)
            rows = session.execute(select(KvSample.requests_running).where(KvSample.pool == pool.name))
            running = [float(r) for (r,) in rows if r is not None]
            cost = session.execute(
                select(func.sum(PoolCost.cost_usd_micros)).where(PoolCost.pool == pool.name)
            ).scalar_one()
            lines = session.execute(
                select(func.sum(AttributedCost.total_usd_micros)).where(AttributedCost.pool == pool.name)
            ).scalar_one()
        (day,) = report.days
        mean = Decimal(str(sum(running) / len(running))) / pool.max_num_seqs
        print(pool.name, day, report.structure)
        assert day.batch_occupancy == mean.quantize(Decimal("1e-6"), ROUND_HALF_EVEN)
        assert 0 < day.headroom_usd_micros < day.cost_usd_micros == cost  # under-batched: headroom is priced
        assert day.usd_per_million_tokens_at_target is not None and day.usd_per_million_tokens is not None
        assert day.usd_per_million_tokens_at_target < day.usd_per_million_tokens
        s = report.structure
        assert (
            s.tokens_usd_micros + s.memory_usd_micros + s.idle_usd_micros + s.recovery_usd_micros
            == s.cost_usd_micros
            == cost
            == lines
        )


def test_simulated_what_if_fp8(simulated_db: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, factory = simulated_db
    with factory() as session:
        report = what_if(session, settings, "llama-405b", START, END, Change(kv_dtype="fp8"))
        capacity = session.execute(
            select(func.max(KvSample.kv_capacity_tokens)).where(KvSample.pool == "llama-405b")
        ).scalar_one()
    now, fp8 = report.current, report.proposed
    print(report)
    assert now.deployment.kv_dtype == "auto"
    assert now.kv_capacity_tokens_per_replica == capacity
    assert now.window_cost_usd_micros == report.measured_cost_usd_micros
    assert fp8.deployment.kv_bytes_per_token * 2 == now.deployment.kv_bytes_per_token
    assert fp8.kv_capacity_tokens_per_replica in (2 * capacity, 2 * capacity + 1)
    assert fp8.gpus == now.gpus and fp8.usd_micros_per_month == now.usd_micros_per_month
    assert now.kv_fits and fp8.kv_fits
    assert any("of reserve, as the measured KV capacity implies" in a for a in report.assumptions)
