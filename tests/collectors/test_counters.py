"""Counter increases are exact per interval, whatever the chunking, through gaps and resets, on both backends.

The history is hand-made so that every hard case is present and its right answer is known from the raw
samples: a reset hidden inside an interval (the counter restarted and passed its old value before the next
boundary), a scrape gap longer than the 5-minute lookback that straddles a chunk boundary, a series born
mid-window, and a plain reset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.counter_columns import CounterColumns, counter_columns
from attribution.collectors.counters import (
    counter_increases,
    increases,
    raw_increase,
    spread_gaps,
    step_increase,
)
from attribution.collectors.prom import PromClient, Series, chunks
from tests.support.backends import BACKENDS, serve

T0 = datetime(2026, 11, 2, tzinfo=UTC)
S0 = int(T0.timestamp())
STEP = 60
WINDOW = (T0, T0 + timedelta(minutes=30))
METRIC = "llm_tenant_kv_token_seconds"


def samples() -> dict[str, list[tuple[int, int]]]:
    """Raw samples (unix s, value) per tenant, 15 s apart, from T0 - 10 min to T0 + 30 min."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ts in range(S0 - 600, S0 + 1800 + 1, 15):
        rel = ts - S0
        # a: grows 2/s; restarts at +7m20s and grows 100/s, passing its old value before +8m
        out["a"].append((ts, 2 * (rel + 600) if rel < 440 else 100 * (rel - 440)))
        # b: 1/s, but no scrape between +9m and +18m (longer than the lookback, across +15m)
        if not 540 < rel < 1080:
            out["b"].append((ts, rel + 600))
        # c: born at +12m with 5 already counted
        if rel >= 720:
            out["c"].append((ts, 5 + (rel - 720)))
        # d: 3/s, then a plain reset at +20m10s to a small counter
        out["d"].append((ts, 3 * (rel + 600) if rel < 1210 else rel - 1210))
    return out


def expected() -> dict[str, dict[int, float]]:
    """Exact increases per interval from the raw samples: a sample at ts belongs to (ts - 60, ts]."""
    out: dict[str, dict[int, float]] = {}
    for tenant, points in samples().items():
        per: dict[int, float] = defaultdict(float)
        previous: int | None = None
        for ts, value in points:
            if ts > S0 and ts <= S0 + 1800:
                start = -(-ts // STEP) * STEP - STEP
                per[start] += (
                    value if previous is None else (value - previous if value >= previous else value)
                )
            previous = value
        out[tenant] = dict(per)
    return out


def write_history(path: Path) -> Path:
    lines = [f"# HELP {METRIC} test counter\n", f"# TYPE {METRIC} counter\n"]
    for tenant, points in samples().items():
        labels = f'tenant="{tenant}",model="m",tier="0-4k"'
        lines += [f"{METRIC}_total{{{labels}}} {value} {ts}\n" for ts, value in points]
    lines.append("# EOF\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp(f"counters-{request.param}")
    with serve(request.param, write_history(work / "history.om"), work) as url:
        yield url


def collected(url: str, chunk_minutes: int) -> dict[str, dict[int, float]]:
    client = PromClient(url)
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for start, end in chunks(*WINDOW, STEP, max_steps=chunk_minutes):
        for c in counter_increases(client, f"{METRIC}_total", start, end, STEP, 3600):
            out[c.labels["tenant"]].update(c.increases)
    return {tenant: {ts: v for ts, v in per.items() if v} for tenant, per in out.items()}


GAP = range(S0 + 540, S0 + 1080, STEP)
"""b's silent intervals (+9m to +17m) and the first one after them, over which its growth is spread."""


def truth_of_b() -> dict[int, float]:
    """b grows 1/s throughout (it was only not scraped): 60 in every interval."""
    return {ts: 60.0 for ts in range(S0, S0 + 1800, STEP)}


@pytest.mark.parametrize("chunk_minutes", [30, 15, 7, 1])
def test_increases_are_exact_whatever_the_chunking(backend: str, chunk_minutes: int) -> None:
    """Exact for every series outside b's gap; b's total is exact whatever the chunking, and its gap is
    spread over the intervals it lasted (here the truth: b grew evenly) when one chunk holds it all."""
    got, want = collected(backend, chunk_minutes), expected()
    assert {k: v for k, v in got.items() if k != "b"} == {k: v for k, v in want.items() if k != "b"}
    assert sum(got["b"].values()) == sum(want["b"].values()) == sum(truth_of_b().values())
    assert {ts: v for ts, v in got["b"].items() if ts not in GAP} == {
        ts: v for ts, v in truth_of_b().items() if ts not in GAP
    }
    if chunk_minutes == 30:
        assert got["b"] == truth_of_b()


def test_the_hard_cases_are_in_the_data() -> None:
    want = expected()
    assert want["a"][S0 + 420] == 30 + 1000 + 1500 + 1500  # hidden reset: both sides of the restart
    assert want["b"][S0 + 1020] == 1080 - 540  # boundary differencing puts the gap's growth after it
    assert want["c"][S0 + 660] == 5  # a new series counts from zero
    assert want["d"][S0 + 1200] == 3 * 15 + 5  # 3/s until the restart, then the new counter


def test_boundary_differencing_alone_would_miss_the_hidden_reset() -> None:
    points = [(S0 + 420, 2040.0), (S0 + 480, 4000.0)]
    assert increases(Series({}, points), S0 + 420, STEP) == {S0 + 420: 1960.0}  # wrong without raw
    raw = {S0 + 480: [2070.0, 1000.0, 2500.0, 4000.0]}
    assert increases(Series({}, points), S0 + 420, STEP, raw=raw) == {S0 + 420: 4030.0}


def test_a_series_missing_at_the_start_takes_its_baseline_not_zero() -> None:
    points = [(S0 + 1080, 1680.0)]
    assert increases(Series({}, points), S0, STEP) == {S0 + 1020: 1680.0}  # new: from zero
    assert increases(Series({}, points), S0, STEP, baseline=1140.0) == {S0 + 1020: 540.0}


def test_raw_increase_counts_every_restart() -> None:
    assert raw_increase(10.0, [12.0, 3.0, 5.0, 1.0, 4.0]) == 2 + 3 + 2 + 1 + 3


def test_a_gap_s_increase_is_spread_over_it_and_sums_exactly() -> None:
    """Samples stop for intervals 120 and 180 (Prometheus down); the growth across them, booked at 240 by
    boundary differencing, is spread over 120..240, by largest remainder for a whole-unit counter."""
    found = {0: 3.0, 60: 2.0, 120: 0.0, 180: 0.0, 240: 10.0, 300: 1.0}
    silent = spread_gaps(found, frozenset({0, 60, 240, 300}), range(0, 360, 60), seen=True)
    assert silent == {120, 180}
    assert found == {0: 3.0, 60: 2.0, 120: 3.0, 180: 3.0, 240: 4.0, 300: 1.0}
    assert sum(found.values()) == 16.0


def test_a_series_that_has_not_appeared_yet_has_no_gap() -> None:
    found = {120: 5.0, 180: 1.0}
    assert spread_gaps(found, frozenset({120, 180}), range(0, 240, 60), seen=False) == frozenset()
    assert found == {120: 5.0, 180: 1.0}


def test_token_seconds_are_spread_as_fractions_that_sum_to_the_whole() -> None:
    found = {0: 0.0, 60: 1.25}
    assert spread_gaps(found, frozenset({60}), range(0, 120, 60), seen=True) == {0}
    assert found[0] + found[60] == 1.25 and found[0] == 0.625


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=1e12, allow_nan=False), max_size=30),
    starts_at_first=st.booleans(),
    baseline=st.none() | st.floats(min_value=0, max_value=1e12, allow_nan=False),
)
def test_increases_without_raw_samples_is_the_step_by_step_difference(
    values: list[float], starts_at_first: bool, baseline: float | None
) -> None:
    """The loop taken when no interval saw a reset (step_increase inlined) gives the very floats of
    step_increase applied boundary by boundary: a reference written out here, and the general loop
    (taken when ``raw`` names a boundary the series lacks)."""
    first = S0 if starts_at_first else S0 - STEP
    points = [(S0 + i * STEP, v) for i, v in enumerate(values)]
    expected: dict[int, float] = {}
    previous = baseline
    for i, (ts, value) in enumerate(points):
        if i == 0 and ts == first:
            previous = value
            continue
        expected[ts - STEP] = value if previous is None else step_increase(previous, value)
        previous = value
    found = increases(Series({}, points), first, STEP, baseline)
    assert found == expected
    assert list(found) == list(expected)
    general = increases(Series({}, points), first, STEP, baseline, raw={S0 - 10 * STEP: [1.0]})
    assert general == found


def as_dicts(found: CounterColumns) -> list[tuple[dict[str, str], dict[int, float]]]:
    by_series: list[dict[int, float]] = [{} for _ in found.labels]
    for i, ts, value in zip(
        found.series.tolist(), found.starts.tolist(), found.increases.tolist(), strict=True
    ):
        assert ts not in by_series[i]  # one increase per series and interval
        by_series[i][ts] = value
    return list(zip(found.labels, by_series, strict=True))


@pytest.mark.parametrize("chunk_minutes", [30, 15, 7, 1])
def test_columns_are_the_per_series_increases(backend: str, chunk_minutes: int) -> None:
    """``counter_columns`` (the gateway's) gives every series the increases ``counter_increases`` gives
    it, bit for bit, through the hidden reset (raw samples), the gap (spread), the new series (baseline)
    and the plain reset; and the same intervals sampled and silent."""
    client = PromClient(backend)
    for start, end in chunks(*WINDOW, STEP, max_steps=chunk_minutes):
        old = counter_increases(client, f"{METRIC}_total", start, end, STEP, 3600)
        new = counter_columns(client, f"{METRIC}_total", start, end, STEP, 3600)
        assert as_dicts(new) == [(c.labels, c.increases) for c in old]
        assert new.sampled == frozenset().union(*(c.sampled for c in old))
        assert new.silent == frozenset().union(*(c.silent for c in old))
