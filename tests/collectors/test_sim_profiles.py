"""Each preset profile on the simulator's own exporters, checked against its ground truth.

``restart`` (two pools whose engines die an hour in, every gateway exporter) and ``mixed`` (eight pools,
one of them SGLang, dcgm-exporter's newer ``hostname`` label, every gateway exporter) are simulated,
backfilled into Prometheus (and, for the counter resets, VictoriaMetrics), and read through the presets:
the native contract, LiteLLM and OpenTelemetry count every request and token of every interval; the
estimated memory-time gives each tenant its share of its pool within a point; an engine restart's counter
reset is neither negative nor double; SGLang's and vLLM's KV gauges and dcgm's GPUs match the truth.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attribution.collectors.batch import Batch
from attribution.collectors.counters import counter_increases, identity, raw_increase
from attribution.collectors.gateway import _collect_columns, _collect_dicts
from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient, chunks
from attribution.collectors.run import fetch
from attribution.config import CollectorName, Settings, load_settings
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.sim import ClusterSpec, generate_history, scenario
from tests.support import victoria
from tests.support.services import missing_service
from tests.support.victoria import LocalVictoriaMetrics

START = datetime(2026, 11, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Served:
    spec: ClusterSpec
    end: datetime
    url: str
    truth_intervals: list[dict[str, str]]
    truth_pool_intervals: list[dict[str, str]]
    vm_url: str | None = None

    def settings(self, profiles: list[str]) -> Settings:
        pools = [
            {
                "name": p.name,
                "model": p.model_key,
                "served_model_name": p.served_model_name,
                "tensor_parallel_size": p.gpus,
                "gpu_selector": {"pod": f"{p.name}-[0-9]+"},
            }
            for p in self.spec.pools
        ]
        return load_settings(pools=pools, sources=[{"name": "sim", "url": self.url, "profiles": profiles}])

    def fetch(self, profile: str, collector: CollectorName) -> Batch:
        settings = self.settings([profile])
        (plan,) = plans(settings, [collector])
        return fetch(PromClient(self.url), settings, plan, START, self.end)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def simulate(name: str, hours: int, work: Path, with_vm: bool) -> Iterator[Served]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover
        missing_service(
            "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
        )
    spec = scenario(name, seed=7)
    end = START + timedelta(hours=hours)
    history = generate_history(spec, START, end, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    truth = read_csv(history.truth_intervals_path), read_csv(history.truth_pool_intervals_path)
    with LocalPrometheus(work / "tsdb") as prom:
        if not with_vm or victoria.binary() is None:
            yield Served(spec, end, prom.url, *truth)
            return
        with LocalVictoriaMetrics(work / "vm") as vm:
            vm.load_openmetrics(history.openmetrics_path)
            yield Served(spec, end, prom.url, *truth, vm_url=vm.url)


@pytest.fixture(scope="module")
def restart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from simulate("restart", 2, tmp_path_factory.mktemp("restart"), with_vm=True)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from simulate("mixed", 1, tmp_path_factory.mktemp("mixed"), with_vm=False)


def truth_by_interval(served: Served) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in served.truth_intervals:
        counts = out[(row["interval_start"], row["pool"], row["tenant"])]
        for i, field in enumerate(("requests", "prompt_tokens", "generation_tokens")):
            counts[i] += int(row[field])
    return {k: (v[0], v[1], v[2]) for k, v in out.items() if any(v)}


def collected_by_interval(batch: Batch) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in batch.rows:
        key = (r["interval_start"].isoformat().replace("+00:00", "Z"), r["pool"], r["tenant"])
        for i, field in enumerate(("requests", "prompt_tokens", "generation_tokens")):
            out[key][i] += r[field]
    return {k: (v[0], v[1], v[2]) for k, v in out.items() if any(v)}


@pytest.mark.parametrize("profile", ["native", "litellm", "otel-genai"])
def test_every_gateway_profile_counts_every_request_and_token(restart: Served, profile: str) -> None:
    """Interval by interval, across both engines' restarts (one pool's traffic held at the gateway, the
    other's failed), except the last interval, whose closing scrape is 15 s before its end."""
    last = (restart.end - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    got = collected_by_interval(restart.fetch(profile, CollectorName.GATEWAY))
    want = truth_by_interval(restart)
    assert sum(v[0] for v in want.values()) > 10_000
    assert {k: v for k, v in got.items() if k[0] < last} == {k: v for k, v in want.items() if k[0] < last}


def shares(values: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    totals: dict[str, float] = defaultdict(float)
    for (pool, _), v in values.items():
        totals[pool] += v
    return {k: v / totals[k[0]] for k, v in values.items()}


@pytest.mark.parametrize("scenario_name", ["restart", "mixed"])
@pytest.mark.parametrize("profile", ["litellm", "otel-genai"])
def test_estimated_memory_time_gives_each_tenant_its_share_within_a_point(
    scenario_name: str, profile: str, request: pytest.FixtureRequest
) -> None:
    """What bills a tenant is its share of its pool's memory-time (the KV in use comes from the engine);
    the estimate's level may be off, its shares must not be (docs/collectors.md has the figures)."""
    served: Served = request.getfixturevalue(scenario_name)
    batch = served.fetch(profile, CollectorName.GATEWAY)
    assert batch.estimated and batch.estimated == set(batch.series)
    truth: dict[tuple[str, str], float] = defaultdict(float)
    for row in served.truth_intervals:
        truth[(row["pool"], row["tenant"])] += float(row["kv_token_seconds"])
    estimated: dict[tuple[str, str], float] = defaultdict(float)
    for r in batch.rows:
        estimated[(r["pool"], r["tenant"])] += r["kv_token_seconds"]
    want, got = shares(truth), shares({k: estimated[k] for k in truth})
    assert max(abs(got[k] - want[k]) for k in want) < 0.01, {k: round(got[k] - want[k], 4) for k in want}
    level = sum(estimated[k] for k in truth) / sum(truth.values())
    assert 0.9 < level < 1.6  # the level: within -10% .. +60% (an engine restart's held requests)


@pytest.mark.parametrize("backend", ["prometheus", "victoria"])
@pytest.mark.parametrize("counter", ["vllm:prompt_tokens_total", "vllm:generation_tokens_total"])
def test_an_engine_restart_is_billed_neither_negative_nor_twice(
    restart: Served, backend: str, counter: str
) -> None:
    """Both engines restart an hour in and their counters start again from zero. Chunked collection
    must add up to exactly what the raw samples say, with no negative interval."""
    url = restart.url if backend == "prometheus" else restart.vm_url
    if url is None:  # pragma: no cover
        missing_service(
            "victoria-metrics", "victoria-metrics is not installed; scripts/ensure-prometheus.sh installs it"
        )
    client = PromClient(url)
    collected: dict[Any, float] = defaultdict(float)
    for start, end in chunks(START, restart.end, 60, max_steps=7):
        for series in counter_increases(client, counter, start, end, 60, 6 * 3600):
            assert all(v >= 0 for v in series.increases.values())
            collected[identity(series.labels)] += sum(series.increases.values())
    raw = client.instant_query(f"{counter}[{int((restart.end - START).total_seconds())}s]", restart.end)
    # the value at START from a range query: VictoriaMetrics 1.79's instant query misses a sample at t
    at_start = client.range_query(counter, START, START + timedelta(minutes=1), 60)
    first = {identity(s.labels): s.points[0][1] for s in at_start if s.points[0][0] == START.timestamp()}
    oracle = {
        identity(s.labels): raw_increase(first[identity(s.labels)], [v for _, v in s.points]) for s in raw
    }
    assert collected == pytest.approx(oracle, rel=1e-12)
    resets = client.instant_query(f"resets({counter}[2h])", restart.end)
    assert len(resets) == 2 and all(s.points[0][1] == 1 for s in resets)  # each engine restarted once


def test_kv_gauges_of_vllm_and_sglang_pools_match_the_truth(mixed: Served) -> None:
    batch = mixed.fetch("vllm", CollectorName.KV)
    sglang_pools = {p.name for p in mixed.spec.pools if p.engine == "sglang"}
    vllm_pools = {p.name for p in mixed.spec.pools} - sglang_pools
    assert sglang_pools and {r["pool"] for r in batch.rows} == vllm_pools
    batch.rows += mixed.fetch("sglang", CollectorName.KV).rows
    truth: dict[str, list[float]] = defaultdict(list)
    for row in mixed.truth_pool_intervals:
        truth[row["pool"]].append(float(row["mean_kv_usage_ratio"]))
    for pool in mixed.spec.pools:
        rows = [r for r in batch.rows if r["pool"] == pool.name]
        assert len(rows) == 60, pool.name
        assert {r["kv_capacity_tokens"] for r in rows} == {pool.kv_capacity_tokens}, pool.name
        mean = sum(r["kv_usage_ratio"] for r in rows) / len(rows)
        assert mean == pytest.approx(sum(truth[pool.name]) / len(truth[pool.name]), rel=0.03, abs=2e-3), (
            pool.name
        )


def test_dcgm_gpus_with_the_newer_hostname_label(mixed: Served) -> None:
    batch = mixed.fetch("dcgm", CollectorName.GPU)
    gpus = {r["gpu_uuid"]: r for r in batch.rows}
    pooled = sum(p.gpus for p in mixed.spec.pools)
    assert len(gpus) == pooled + sum(mixed.spec.unallocated_gpus.values())
    assert all(r["hostname"] for r in gpus.values())
    assert sum(1 for r in gpus.values() if r["pool"] is not None) == pooled
    assert all(r["gpu_type"] for r in gpus.values())


def test_a_restarted_engine_s_minutes_are_missing_not_stale(restart: Served) -> None:
    """The engines die an hour in (one for 300 s, one for 130 s): their KV gauges have no samples then,
    and those intervals show as missing (the attribution job puts their cost on __unmeasured__)."""
    batch = restart.fetch("vllm", CollectorName.KV)
    outage = START + timedelta(hours=1)
    for pool in restart.spec.pools:
        have = {r["interval_start"] for r in batch.rows if r["pool"] == pool.name}
        missing = [m for m in range(120) if START + timedelta(minutes=m) not in have]
        # the interval (t, t + 60 s] holding the first scrape after the restart has a sample again
        back = math.ceil(pool.outages[0].down_seconds / 60)
        assert missing == list(range(60, 59 + back)), pool.name
    assert batch.series.get(outage) is None and batch.series[outage + timedelta(minutes=2)] == 1


@pytest.mark.parametrize("chunk_minutes", [120, 7])
def test_the_native_gateway_sums_as_columns_are_the_dict_sums(restart: Served, chunk_minutes: int) -> None:
    """The native contract's columns path (``_collect_columns``) and the per-group dict sums it replaced
    (``_collect_dicts``, kept for the profiles that estimate) give the same rows, bit for bit and in the
    same order, and the same coverage, gaps and estimates, chunk by chunk across the restarts."""
    settings = restart.settings(["native"])
    (plan,) = plans(settings, [CollectorName.GATEWAY])
    client = PromClient(restart.url)
    rows = 0
    for start, end in chunks(START, restart.end, 60, max_steps=chunk_minutes):
        new = _collect_columns(client, settings, plan, start, end)
        old = _collect_dicts(client, settings, plan, start, end)
        assert new.columns is not None
        assert new.rows == old.rows
        assert [[type(v) for v in r.values()] for r in new.rows] == [
            [type(v) for v in r.values()] for r in old.rows
        ]
        assert (new.series, new.missing, new.estimated, new.open_gap) == (
            old.series,
            old.missing,
            old.estimated,
            old.open_gap,
        )
        rows += len(new.rows)
    assert rows > 500
