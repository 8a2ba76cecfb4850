"""Ground truth agrees with itself and with the counters a collector will read."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from attribution.errors import InvalidWindowError
from attribution.sim import demo_cluster, generate_history, scenario
from tests.sim.omparse import parse_openmetrics
from tests.support.sim_history import (
    END,
    INTERVAL_SECONDS,
    SCRAPE_INTERVAL_SECONDS,
    START,
    History,
    make_history,
    read_csv,
)


def _last(history: History, sample: str, **match: str) -> float:
    """Sum over series of ``sample`` whose labels include ``match``, at the last scrape."""
    family_name = sample.removesuffix("_total").removesuffix("_count")
    total = 0.0
    for (name, labels), points in history.families[family_name].series.items():
        if name == sample and match.items() <= dict(labels).items():
            total += points[-1][1]
    return total


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    start, end = END - timedelta(hours=1), END
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_history(demo_cluster(seed=seed), start, end, tmp_path / name)
        outs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert outs[0] == outs[1]
    assert len(outs[0]) == 4
    assert outs[0]["history.om"] != outs[2]["history.om"]


def test_intervals_sum_to_the_totals(history: History) -> None:
    columns = ("requests", "prompt_tokens", "generation_tokens", "failed_requests")
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for row in history.intervals:
        key = (row["pool"], row["tenant"], row["tier"])
        for i, column in enumerate(columns):
            sums[key][i] += int(row[column])
        sums[key][4] += float(row["kv_token_seconds"])
    assert len(sums) == len(history.truth["totals"])
    for total in history.truth["totals"]:
        got = sums[(total["pool"], total["tenant"], total["tier"])]
        assert got[:4] == [total[c] for c in columns]
        assert got[4] == pytest.approx(total["kv_token_seconds"], rel=1e-9)
    assert history.result.requests == sum(t["requests"] for t in history.truth["totals"])


def test_truth_header_describes_the_window_and_pools(history: History) -> None:
    truth = history.truth
    assert (truth["start"], truth["end"]) == ("2026-10-31T21:00:00Z", "2026-11-01T00:00:00Z")
    assert truth["tiers"] == ["0-4k", "4k-32k", "32k-128k", "128k+"]
    assert truth["scrape_interval_seconds"] == SCRAPE_INTERVAL_SECONDS
    for row, pool in zip(truth["pools"], history.spec.pools, strict=True):
        assert row["num_gpu_blocks"] == pool.num_gpu_blocks
        assert row["kv_capacity_tokens"] == pool.kv_capacity_tokens
        assert row["kv_bytes_per_token"] == pool.kv_bytes_per_token
        assert row["memory_bytes"] == pool.memory_bytes
    assert truth["unallocated_gpus"] == {"H100-SXM": 2}
    tiers = {(t["tenant"], t["tier"]) for t in truth["totals"]}
    assert ("umbrella-research", "32k-128k") in tiers
    assert ("acme-chat", "0-4k") in tiers


def test_gateway_counters_sum_to_the_engine_counters(history: History) -> None:
    for pool in history.spec.pools:
        model = pool.served_model_name
        assert _last(history, "llm_tenant_requests_total", model=model) == _last(
            history, "vllm:request_success_total", model_name=model
        )
        assert _last(history, "llm_tenant_prompt_tokens_total", model=model) == _last(
            history, "vllm:prompt_tokens_total", model_name=model
        )
        assert _last(history, "llm_tenant_generation_tokens_total", model=model) == _last(
            history, "vllm:generation_tokens_total", model_name=model
        )
        assert _last(history, "llm_tenant_request_context_tokens_count", model=model) == _last(
            history, "vllm:request_success_total", model_name=model
        )


@pytest.fixture(scope="module")
def preempting(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The noisy neighbour's burst (one hour in) fills the 70B pool's cache: preemptions by the thousand."""
    spec = scenario("noisy-neighbour", seed=1)
    start = END - timedelta(hours=2)
    return make_history(spec, start, END, tmp_path_factory.mktemp("noisy"), include_histograms=False)


def test_kv_token_seconds_counter_delta_is_the_truth_integral(history: History, preempting: History) -> None:
    """Between the first scrape (the window start) and the last scrape on the interval grid; also under
    preemption, where a victim's KV time stops while it waits and resumes when it re-prefills."""
    (preemptions,) = preempting.values("vllm:num_preemptions", "_total").values()
    assert preemptions[-1] - preemptions[0] > 10
    for h in (history, preempting):
        _check_kv_counter_deltas(h)


def _check_kv_counter_deltas(history: History) -> None:
    start = int(history.start.timestamp())
    family = history.families["llm_tenant_kv_token_seconds"]
    checked = 0
    for (_, labels), points in family.series.items():
        label = dict(labels)
        values = dict(points)
        last = max(t for t in values if (t - start) % INTERVAL_SECONDS == 0)
        first = min(values)
        expected = sum(
            float(row["kv_token_seconds"])
            for row in history.intervals
            if (row["tenant"], row["tier"]) == (label["tenant"], label["tier"])
            and first <= _unix(row["interval_start"]) < last
        )
        if first > start:  # born inside the window: the counter counted from 0 before `first`
            continue
        assert values[last] - values[first] == pytest.approx(expected, rel=1e-9, abs=1e-6)
        checked += 1
    assert checked >= 5


def test_requests_counter_delta_is_the_truth_count(history: History) -> None:
    start = int(START.timestamp())
    for (_, labels), points in history.families["llm_tenant_requests"].series.items():
        label, values = dict(labels), dict(points)
        if min(values) > start:
            continue
        last = max(t for t in values if (t - start) % 60 == 0)
        expected = sum(
            int(row["requests"])
            for row in history.intervals
            if (row["tenant"], row["tier"]) == (label["tenant"], label["tier"])
            and _unix(row["interval_start"]) < last
        )
        assert values[last] - values[start] == expected


def test_pool_mean_usage_matches_the_sampled_gauge(history: History) -> None:
    for pool in history.spec.pools:
        exact = np.mean(
            [float(r["mean_kv_usage_ratio"]) for r in history.pool_intervals if r["pool"] == pool.name]
        )
        gauge = [
            v
            for (_, labels), points in history.families["vllm:kv_cache_usage_perc"].series.items()
            if dict(labels)["pod"] == f"{pool.name}-0"
            for _, v in points
        ]
        assert 0.0 < exact <= 1.0
        assert np.mean(gauge) == pytest.approx(exact, rel=0.1, abs=0.005)


def test_max_held_bounds_the_mean_and_fits_the_pool(history: History) -> None:
    capacity = {p.name: p.kv_capacity_tokens for p in history.spec.pools}
    for total in history.truth["totals"]:
        mean_held = total["kv_token_seconds"] / (3 * 3600)
        assert mean_held <= total["max_kv_tokens_held"] <= capacity[total["pool"]]


def test_a_cold_start_creates_gateway_series_from_their_first_activity(tmp_path: Path) -> None:
    spec = demo_cluster(scrape_interval_seconds=30)
    result = generate_history(spec, END - timedelta(hours=1), END, tmp_path, warmup_seconds=0)
    families = parse_openmetrics(result.openmetrics_path)
    truth = json.loads(result.truth_path.read_text())
    peaks = {(t["tenant"], t["tier"]): t["max_kv_tokens_held"] for t in truth["totals"]}
    start = int((END - timedelta(hours=1)).timestamp())
    late = 0
    for (_, labels), points in families["llm_tenant_kv_token_seconds"].series.items():
        label = dict(labels)
        first_t, first_v = points[0]
        # Before its first scrape the group was active for less than one scrape interval.
        assert first_v <= peaks[(label["tenant"], label["tier"])] * 30 + 1e-6
        late += first_t > start
    assert late > 0
    rows = read_csv(result.truth_intervals_path)
    assert rows and all(r["interval_start"].endswith("Z") for r in rows)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 10, 31), datetime(2026, 11, 1)),  # noqa: DTZ001 (naive on purpose)
        (datetime(2026, 10, 31, 0, 0, 30, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
        (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_unusable_windows_are_refused(start: datetime, end: datetime, tmp_path: Path) -> None:
    with pytest.raises(InvalidWindowError):
        generate_history(demo_cluster(), start, end, tmp_path)


def _unix(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
