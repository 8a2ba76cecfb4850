"""Each named scenario shows what it is for: restarts, a noisy neighbour, the two regimes, the fleet."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from attribution.catalog import get_gpu
from attribution.errors import ConfigError
from attribution.sim import SCENARIOS, fleet, scenario
from attribution.sim.engine import LOST, REFUSED
from tests.support.sim_history import History
from tests.support.sim_run import run


def _engine_points(h: History, name: str, pool: str, suffix: str = "") -> dict[int, float]:
    (points,) = [p for labels, p in h.points(name, suffix).items() if dict(labels)["pod"] == f"{pool}-0"]
    return points


def test_a_restart_leaves_a_serving_gap_and_resets_the_engine_counters(restart: History) -> None:
    start = int(restart.start.timestamp())
    for pool in restart.spec.pools:
        (outage,) = pool.outages
        down, up = start + outage.at_seconds, start + outage.at_seconds + outage.down_seconds
        tokens = _engine_points(restart, "vllm:prompt_tokens", pool.name, "_total")
        stamps = sorted(tokens)
        # No engine series while the engine is down (its /metrics is gone); all of them before and after.
        assert not [t for t in stamps if down <= t < up]
        assert stamps[0] == start and stamps[-1] > up
        before = tokens[max(t for t in stamps if t < down)]
        after = tokens[min(t for t in stamps if t >= up)]
        assert before > 100_000 and after < 0.05 * before  # restarted from zero
        info = _engine_points(restart, "vllm:cache_config_info", pool.name)
        assert set(info.values()) == {1.0} and min(t for t in info if t >= up) < up + 15
        # Nothing is served in the gap: no KV held, no request completed.
        rows = [r for r in restart.pool_intervals if r["pool"] == pool.name]
        gap = [r for r in rows if down + 60 <= _unix(r["interval_start"]) < up - 60]
        assert gap and all(float(r["kv_token_seconds"]) == 0.0 for r in gap)
        done = [r for r in restart.intervals if r["pool"] == pool.name and int(r["requests"]) > 0]
        assert not [r for r in done if down + 60 <= _unix(r["interval_start"]) < up - 60]


def test_the_gpus_stay_reported_while_weights_reload(restart: History) -> None:
    """dcgm-exporter keeps the pool's GPUs: framebuffer drops when the process dies, climbs while weights
    load, and is back at its serving level before the engine answers."""
    start = int(restart.start.timestamp())
    pool = restart.spec.pools[0]
    (outage,) = pool.outages
    crash = start + outage.at_seconds
    loading = crash + outage.restart_delay_seconds
    serving = round(pool.gpu_memory_utilization * get_gpu(pool.gpu_key).fb_total_mib)
    for labels, points in restart.points("DCGM_FI_DEV_FB_USED").items():
        if dict(labels).get("pod") != f"{pool.name}-0":
            continue
        stamps = sorted(points)
        assert len(stamps) == 2 * 3600 // 15  # never a gap
        assert all(points[t] == serving for t in stamps if t < crash)
        assert all(points[t] <= 1 for t in stamps if crash <= t < loading)
        climbing = [points[t] for t in stamps if loading <= t < loading + outage.reload_seconds]
        assert len(climbing) > 10 and np.all(np.diff(climbing) > 0) and climbing[-1] < serving
        assert all(points[t] == serving for t in stamps if t >= loading + outage.reload_seconds)


def test_during_a_restart_the_gateway_queues_or_fails_by_the_outage_mode(restart: History) -> None:
    queued, failing = restart.spec.pools
    failed = defaultdict(int)
    for row in restart.intervals:
        failed[row["pool"]] += int(row["failed_requests"])
    assert failed[queued.name] == 0 and failed[failing.name] > 50
    failures: dict[str, float] = defaultdict(float)
    for labels, values in restart.values("litellm_proxy_failed_requests_metric", "_total").items():
        failures[dict(labels)["requested_model"]] += values[-1]
    assert set(failures) == {failing.served_model_name}
    assert failures[failing.served_model_name] == failed[failing.name]
    status = {
        (dict(labels)["requested_model"], dict(labels)["status_code"])
        for labels in restart.values("litellm_proxy_total_requests_metric", "_total")
    }
    assert (failing.served_model_name, "500") in status and (queued.served_model_name, "500") not in status


def test_held_requests_are_served_after_the_restart_and_then_the_cache_is_under_pressure() -> None:
    spec = scenario("restart", seed=5)
    queued = spec.pools[0]
    (outage,) = queued.outages
    up = outage.at_seconds + outage.down_seconds
    chunks = run(spec, outage.at_seconds - 600, up + 900)
    kinds = np.concatenate([c.failure_kind[c.failure_pool == 1] for c in chunks])
    assert set(kinds.tolist()) == {LOST, REFUSED}  # the failing pool: in flight at the crash, sent while down
    done = [c.completions for c in chunks]
    gw_arrival = np.concatenate([d.gw_arrival[d.pool == 0] for d in done])
    arrival = np.concatenate([d.arrival[d.pool == 0] for d in done])
    held = arrival > gw_arrival
    # Sent while the engine was down, or in flight when it died: the gateway re-sends them all when it is up.
    assert held.sum() > 100 and np.all(arrival[held] == up)
    assert gw_arrival[held].min() < outage.at_seconds <= gw_arrival[held].max()
    assert max(c.waiting[0].max() for c in chunks) > 100  # the backlog lands on the engine at once


def _queue_times(burst: bool) -> dict[str, np.ndarray]:
    """Per tenant, queue time (first scheduled - arrival) of requests arriving in the burst's 30 minutes."""
    spec = scenario("noisy-neighbour", seed=9, burst=burst)
    chunks = run(spec, 3000.0, 6000.0)
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for chunk in chunks:
        d = chunk.completions
        inside = (d.arrival >= 3600.0) & (d.arrival < 5400.0)
        for profile, tenant in enumerate(spec.tenants):
            mine = inside & (d.group // 4 == profile)
            out[tenant.name].append((d.first_scheduled - d.arrival)[mine])
    return {name: np.concatenate(parts) for name, parts in out.items()}


def test_a_noisy_neighbours_burst_of_128k_requests_queues_everyone_else() -> None:
    quiet, noisy = _queue_times(burst=False), _queue_times(burst=True)
    assert noisy["umbrella-longctx"].size > 20 and quiet["umbrella-longctx"].size == 0
    for tenant in ("acme-chat", "globex-rag", "initech-code"):
        assert noisy[tenant].size == pytest.approx(quiet[tenant].size, rel=0.02)  # the same arrivals
        assert noisy[tenant].mean() > 10.0 * max(quiet[tenant].mean(), 0.1), tenant
        assert np.quantile(noisy[tenant], 0.9) > 5.0, tenant


def test_every_named_scenario_builds_and_unknown_names_are_refused() -> None:
    for name in SCENARIOS:
        spec = scenario(name, seed=1, **({"gpus": 64, "tenants": 20} if name == "fleet" else {}))
        assert spec.pools and spec.tenants
    with pytest.raises(ConfigError):
        scenario("nope")
    with pytest.raises(ConfigError):
        scenario("small", colour="blue")


def test_small_and_large_are_the_seeds_two_regimes() -> None:
    (small,) = scenario("small").pools
    assert (small.gpu_key, small.gpus, small.max_model_len, small.cache_dtype) == (
        "H100-SXM",
        2,
        32768,
        "fp8",
    )
    assert small.model_key == "mistral-small-24b"
    (large,) = scenario("large").pools
    assert (large.gpu_key, large.gpus, large.max_model_len) == ("H200-SXM", 8, 131072)
    assert large.model_key == "llama-3.1-405b"
    mixed = scenario("mixed")
    assert len(mixed.pools) >= 6 and sum(mixed.unallocated_gpus.values()) > 0
    assert {p.engine for p in mixed.pools} == {"vllm", "sglang"}


def test_the_fleet_is_1024_gpus_and_1000_tenants() -> None:
    spec = fleet()
    assert sum(p.gpus for p in spec.pools) + sum(spec.unallocated_gpus.values()) == 1024
    assert len({t.name for t in spec.tenants}) == 1000
    assert spec.exporters.litellm


def _unix(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
