"""Simulator -> Prometheus -> collectors -> Postgres -> memory-time attribution -> chargeback.

Every stage is real: the simulator's OpenMetrics history is backfilled with promtool into a Prometheus
started on a loopback port, and the collectors read it over the HTTP API into a fresh Postgres database.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.errors import SourceQueryError
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.reports.chargeback import Chargeback, build_chargeback
from attribution.sim.cluster import ClusterSpec
from attribution.sim.history import HistoryResult, generate_history
from attribution.sim.scenarios import demo_cluster
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import Coverage, GpuSample, KvSample, TenantUsage
from tests.support import truth as ground_truth
from tests.support.postgres import fresh_database
from tests.support.services import missing_service
from tests.support.truth import l1_of_shares, model_on_truth

START = datetime(2026, 11, 2, tzinfo=UTC)
HOURS = 6
END = START + timedelta(hours=HOURS)
SCRAPE_SECONDS = 15
# Prices in demo_settings: 4 H100 at $2.99 and 8 H200 at $3.79 per GPU-hour, by hand: $42.28 an hour.
BILL_USD_MICROS = 42_280_000 * HOURS


@dataclass
class Pipeline:
    spec: ClusterSpec
    settings: Settings
    factory: sessionmaker[Session]
    history: HistoryResult
    prometheus_url: str
    truth: dict[str, Any]
    chargeback: Chargeback


@pytest.fixture(scope="module")
def pipeline(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - only where make test's install step did not run
        missing_service("Prometheus", f"Prometheus is not installed ({exc}); `make test` installs it")
    work = tmp_path_factory.mktemp("e2e")
    spec = dataclasses.replace(demo_cluster(seed=7), scrape_interval_seconds=SCRAPE_SECONDS)
    history = generate_history(spec, START, END, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    with fresh_database(pg_server) as url, LocalPrometheus(work / "tsdb") as prom:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = demo_settings(spec, url, prom.url)
        collect_window(PromClient(prom.url), settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        with factory() as session:
            cb = build_chargeback(session, START, END, settings.interval_seconds)
        truth = json.loads(history.truth_path.read_text())
        yield Pipeline(spec, settings, factory, history, prom.url, truth, cb)
        engine.dispose()


def by_tenant(cb: Chargeback) -> dict[str, Any]:
    return {t.tenant: t for t in cb.tenants}


def test_chargeback_sums_exactly_to_the_cluster_bill(pipeline: Pipeline) -> None:
    cb = pipeline.chargeback
    assert cb.complete
    assert cb.cluster_cost_usd_micros == BILL_USD_MICROS
    assert cb.total_usd_micros == BILL_USD_MICROS
    assert cb.total_cents == BILL_USD_MICROS // 10_000 == sum(t.total_cents for t in cb.tenants)
    assert all(t.unmeasured_cents == 0 for t in cb.tenants)  # every GPU was sampled in every interval


def test_memory_time_matches_ground_truth_within_the_scrape_lag(pipeline: Pipeline) -> None:
    """The counter value read at a boundary is the last scrape at or before it, so it lags the boundary by
    less than one scrape interval (at the window's end by a whole one: the last scrape is at end - 15 s).
    Per tenant x tier the error is then at most scrape interval x the most tokens it ever held, at each
    end of the window; it does not grow with the window's length."""
    lag_seconds = pipeline.spec.scrape_interval_seconds
    with pipeline.factory() as session:
        rows = session.execute(
            select(TenantUsage.pool, TenantUsage.tenant, TenantUsage.tier, TenantUsage.kv_token_seconds)
        ).all()
    collected: dict[tuple[str, str, str], float] = defaultdict(float)
    for pool, tenant, tier, token_seconds in rows:
        collected[(pool, tenant, tier)] += token_seconds
    assert pipeline.truth["totals"], "the simulator produced no traffic"
    for t in pipeline.truth["totals"]:
        key = (t["pool"], t["tenant"], t["tier"])
        tolerance = 2 * lag_seconds * t["max_kv_tokens_held"] + 1e-6 * t["kv_token_seconds"]
        assert abs(collected[key] - t["kv_token_seconds"]) <= tolerance, key
        assert t["kv_token_seconds"] > 0


def test_requests_and_tokens_match_ground_truth_interval_by_interval(pipeline: Pipeline) -> None:
    """Scrapes fall on interval boundaries here, so every interval's counts are exact, except the last:
    its closing boundary reads the scrape at end - 15 s, so it may miss what finished after that."""
    last = END - timedelta(seconds=pipeline.settings.interval_seconds)
    truth: dict[tuple[datetime, str, str, str], tuple[int, int, int]] = {}
    with pipeline.history.truth_intervals_path.open() as fh:
        for row in csv.DictReader(fh):
            start = datetime.fromisoformat(row["interval_start"].replace("Z", "+00:00"))
            counts = (int(row["requests"]), int(row["prompt_tokens"]), int(row["generation_tokens"]))
            if any(counts):
                truth[(start, row["pool"], row["tenant"], row["tier"])] = counts
    with pipeline.factory() as session:
        rows = session.execute(
            select(
                TenantUsage.interval_start,
                TenantUsage.pool,
                TenantUsage.tenant,
                TenantUsage.tier,
                TenantUsage.requests,
                TenantUsage.prompt_tokens,
                TenantUsage.generation_tokens,
            )
        ).all()
    collected = {tuple(r[:4]): tuple(r[4:]) for r in rows if any(r[4:])}
    assert sum(c[0] for c in truth.values()) > 1000
    assert {k: v for k, v in collected.items() if k[0] < last} == {
        k: v for k, v in truth.items() if k[0] < last
    }
    for key, counts in collected.items():
        if key[0] == last:
            assert all(c <= t for c, t in zip(counts, truth.get(key, (0, 0, 0)), strict=True))


def predicted_costs(pipeline: Pipeline) -> dict[str, int]:
    """The model applied directly to the simulator's ground truth, bypassing exposition and Prometheus."""
    costs = model_on_truth(pipeline.spec, pipeline.history, pipeline.settings, START, END)
    return ground_truth.by_tenant(costs)


def test_every_tenant_pays_what_the_model_predicts_from_ground_truth(pipeline: Pipeline) -> None:
    predicted = predicted_costs(pipeline)
    assert sum(predicted.values()) == BILL_USD_MICROS
    for name, charge in by_tenant(pipeline.chargeback).items():
        # KV usage is sampled every 15 s rather than integrated exactly: 2% covers that sampling noise
        assert charge.total_usd_micros == pytest.approx(predicted[name], rel=0.02), name


def test_a_128k_request_costs_what_its_memory_time_says(pipeline: Pipeline) -> None:
    """On the 405B pool the 128k-context tenant pays per request the ratio the model predicts."""
    tenants = by_tenant(pipeline.chargeback)
    long_ctx, short_ctx = tenants["umbrella-research"], tenants["initech-assist"]
    got = (long_ctx.total_usd_micros / long_ctx.requests) / (short_ctx.total_usd_micros / short_ctx.requests)
    predicted = predicted_costs(pipeline)
    truth_requests = {t.tenant: t.requests for t in tenants.values()}
    expected = (predicted["umbrella-research"] / truth_requests["umbrella-research"]) / (
        predicted["initech-assist"] / truth_requests["initech-assist"]
    )
    memory_time_ratio = (long_ctx.kv_token_seconds / long_ctx.requests) / (
        short_ctx.kv_token_seconds / short_ctx.requests
    )
    assert got > 10
    assert got == pytest.approx(expected, rel=0.02)
    # and why: under proportional policies the cost ratio follows the memory-time ratio
    assert got == pytest.approx(memory_time_ratio, rel=0.15)


def _snapshot(factory: sessionmaker[Session]) -> list[list[tuple[Any, ...]]]:
    with factory() as session:
        return [
            [
                tuple(r)
                for r in session.execute(
                    select(*model.__table__.columns).order_by(*model.__table__.primary_key.columns)
                ).all()
            ]
            for model in (GpuSample, KvSample, TenantUsage, Coverage)
        ]


def test_collecting_the_same_window_again_changes_nothing(pipeline: Pipeline) -> None:
    before = _snapshot(pipeline.factory)
    assert all(before)
    collect_window(PromClient(pipeline.prometheus_url), pipeline.settings, pipeline.factory, START, END)
    # and a window collected in two halves writes the same rows
    middle = START + timedelta(hours=HOURS // 2, minutes=7)
    client = PromClient(pipeline.prometheus_url)
    collect_window(client, pipeline.settings, pipeline.factory, START, middle)
    collect_window(client, pipeline.settings, pipeline.factory, middle, END)
    assert _snapshot(pipeline.factory) == before


def test_the_simulated_cluster_was_collected_whole(pipeline: Pipeline, tmp_path: Path) -> None:
    intervals = HOURS * 60
    with pipeline.factory() as session:
        gpu_rows = session.scalar(select(GpuSample.gpu_uuid).limit(1))
        kv_rows = session.execute(select(KvSample.pool).distinct()).scalars().all()
    assert gpu_rows is not None
    assert sorted(kv_rows) == sorted(p.name for p in pipeline.spec.pools)
    assert pipeline.chargeback.coverage_intervals == {"gpu": intervals, "kv": intervals, "gateway": intervals}


def test_a_malformed_query_is_a_query_error_not_an_outage(pipeline: Pipeline) -> None:
    client = PromClient(pipeline.prometheus_url)
    with pytest.raises(SourceQueryError, match="rejected"):
        client.range_query("sum(", START, END, 60)


def test_prometheus_refusing_too_many_points_is_a_query_error(pipeline: Pipeline) -> None:
    """Our chunking keeps under the 11,000-point limit; this is what happens if something does not."""
    response = requests.get(
        f"{pipeline.prometheus_url}/api/v1/query_range",
        params={"query": "up", "start": START.timestamp(), "end": END.timestamp(), "step": "1"},
        timeout=10,
    )
    assert response.status_code == 400  # 21,600 points: the server's own limit, which chunks() respects
    with pytest.raises(ValueError, match="use chunks"):
        PromClient(pipeline.prometheus_url).range_query("up", START, END + timedelta(days=7), 60)


def test_tenant_cost_shares_are_within_one_percent_l1_of_ground_truth(pipeline: Pipeline) -> None:
    """With exact KV token-seconds (the native contract) the L1 distance between the tenants' cost
    shares through Prometheus and the shares the model gives on the simulator's ground truth is <= 1%."""
    predicted = predicted_costs(pipeline)
    got = {t.tenant: t.total_usd_micros for t in pipeline.chargeback.tenants}
    l1 = l1_of_shares(got, predicted)
    print(f"L1 of tenant cost shares against ground truth: {l1:.5f}")
    assert l1 <= 0.01, l1


def test_the_tier_report_shows_why_long_context_costs_more(pipeline: Pipeline) -> None:
    from attribution.reports.tiers import tier_costs

    names = pipeline.settings.tiers.names
    with pipeline.factory() as session:
        everything = tier_costs(session, START, END, names)
        tiers = {t.tier: t for t in tier_costs(session, START, END, names, pool="llama-405b")}
    assert sum(t.total_usd_micros for t in everything) == BILL_USD_MICROS
    # on one pool, where a GiB-hour costs the same to everyone in an interval
    long_ctx, short_ctx = tiers["32k-128k"], tiers["0-4k"]
    cost_ratio = long_ctx.usd_per_request / short_ctx.usd_per_request
    memory_ratio = long_ctx.gib_hours_per_request / short_ctx.gib_hours_per_request
    tokens_ratio = (long_ctx.tokens / long_ctx.requests) / (short_ctx.tokens / short_ctx.requests)
    assert cost_ratio > 10
    assert cost_ratio == pytest.approx(memory_ratio, rel=0.25)
    assert tokens_ratio < cost_ratio  # tokens alone would under-price the long-context tier
