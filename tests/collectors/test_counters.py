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

from attribution.collectors.counters import counter_increases, increases, raw_increase
from attribution.collectors.prom import PromClient, Series, chunks
from tests.collectors.conftest import BACKENDS, serve

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


@pytest.mark.parametrize("chunk_minutes", [30, 15, 7, 1])
def test_increases_are_exact_whatever_the_chunking(backend: str, chunk_minutes: int) -> None:
    assert collected(backend, chunk_minutes) == expected()


def test_the_hard_cases_are_in_the_data() -> None:
    want = expected()
    assert want["a"][S0 + 420] == 30 + 1000 + 1500 + 1500  # hidden reset: both sides of the restart
    assert want["b"][S0 + 1020] == 1080 - 540  # the gap's growth lands after it, once
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
