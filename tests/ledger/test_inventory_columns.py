"""The job's inputs as columns equal the per-interval reference (``tests/support/inventory_reference.py``).

``group_telemetry`` + ``build_inputs`` became numpy columns and one grouped largest-remainder split over
every (interval, GPU type); the loop they replaced is the oracle. Random ``gpu_counts`` rows cover several
GPU types, whole GPUs and parts (``share_ppm``), unplaced parts, unallocated GPUs (pool None or ""),
measured memory and power for some GPUs, inventories smaller and larger than what was seen, types outside
the inventory or the catalog, rows outside the window or off its grid, intervals without telemetry, and
windows across a price change, a derived price with measured power, and a month boundary (overheads).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.config import Settings
from attribution.ledger.inputs import build_inputs, group_telemetry
from attribution.ledger.telemetry import UNALLOCATED, IntervalTelemetry
from attribution.store.gpu_columns import gpu_count_columns_from_rows
from tests.builders import small_cluster_settings
from tests.support.inventory_reference import (
    assert_same,
    reference_build_inputs,
    reference_group_telemetry,
)

STEP = 60
#: an interval before the month boundary; windows start up to 6 intervals either side of it
BOUNDARY = datetime(2026, 12, 1, tzinfo=UTC)
TYPES = ("H100-SXM", "A100-SXM-80GB", "A30")
POOLS = ("small", "gone", "", None)
#: a price change two intervals before the month boundary
A100_CHANGE = "2026-11-30T23:58:00Z"


def _settings() -> Settings:
    return small_cluster_settings(
        inventory={t: 2 for t in TYPES},
        gpu_prices=[
            {
                "gpu_type": "H100-SXM",
                "effective_from": "2026-11-01T00:00:00Z",
                "derived": {
                    "purchase_usd": "25920",
                    "depreciation_months": 36,
                    "watts_per_gpu": 700,
                    "usd_per_kwh": "0.40",
                    "measured_power": True,
                },
            },
            {"gpu_type": "H100-SXM", "usd_per_gpu_hour": "3.10", "effective_from": "2026-12-01T00:00:00Z"},
            {"gpu_type": "A100-SXM-80GB", "usd_per_gpu_hour": "1.79"},
            {"gpu_type": "A100-SXM-80GB", "usd_per_gpu_hour": "1.83", "effective_from": A100_CHANGE},
            {"gpu_type": "A30", "usd_per_gpu_hour": "0.77"},
        ],
        overheads=[
            {"name": "network", "usd_per_month": "720"},
            {"name": "staff", "usd_per_month": "1000.01", "effective_from": "2026-11-15T00:00:00Z"},
        ],
    )


SETTINGS = _settings()


@st.composite
def gpu_count_rows(draw: st.DrawFn, first_s: int, n_intervals: int) -> list[tuple[Any, ...]]:
    """Driver tuples in the order of ``GPU_COUNT_COLUMNS``, a few per interval, some off the window."""
    rows: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 25))):
        i = draw(st.integers(-1, n_intervals))
        ts = first_s + i * STEP + draw(st.sampled_from((0, 0, 0, 0, 0, 30)))
        whole = draw(st.booleans())
        gpus = draw(st.integers(0, 5)) if whole else 0
        share = 0 if whole else draw(st.integers(0, 3_000_000))
        measured = draw(st.one_of(st.none(), st.integers(0, gpus + 1)))
        mib = draw(st.integers(0, 400_000))
        powered = draw(st.integers(0, gpus + 1))
        milliwatts = draw(st.integers(0, 3_000_000))
        gpu_type = draw(st.sampled_from((*TYPES, *TYPES, None, "B200")))
        unplaced = draw(st.booleans()) and not whole
        row = (ts, gpu_type, draw(st.sampled_from(POOLS)), unplaced, gpus, share, measured, mib, powered)
        rows.append((*row, milliwatts, 0, 0))
    return rows


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_columns_equal_the_reference(data: st.DataObject) -> None:
    offset = data.draw(st.integers(-6, 6), label="start, intervals from the month boundary")
    n_intervals = data.draw(st.integers(0, 8), label="intervals")
    start = BOUNDARY + timedelta(seconds=offset * STEP)
    end = start + timedelta(seconds=n_intervals * STEP)
    inventory = data.draw(st.dictionaries(st.sampled_from(TYPES), st.integers(0, 6), min_size=1))
    settings_ = SETTINGS.model_copy(update={"inventory": inventory})
    rows = data.draw(gpu_count_rows(int(start.timestamp()), n_intervals), label="rows")
    kv_rows = [(int(start.timestamp()) + i * STEP, "small", "e0", 0.5, 100_000, 160, 3) for i in range(2)]
    old = reference_build_inputs(settings_, start, end, reference_group_telemetry(rows), kv_rows)
    counts = gpu_count_columns_from_rows(rows)
    assert_same(build_inputs(settings_, start, end, group_telemetry(counts), kv_rows), old)
    # hand-written telemetry (tests, the truth model) takes the same columns
    assert_same(build_inputs(settings_, start, end, reference_group_telemetry(rows), kv_rows), old)


def test_hand_written_zero_entries_are_places_as_before() -> None:
    """A hand-written entry of 0 GPUs still makes its pool a pool-interval (cost 0), as it did."""
    start = BOUNDARY - timedelta(seconds=STEP)
    end = start + timedelta(seconds=2 * STEP)
    ts = int(start.timestamp())
    telemetry = {
        ts: IntervalTelemetry(
            {("A30", "small"): 0, ("A30", "gone"): 1, ("A30", UNALLOCATED): 0},
            {},
            memory={("A30", "gone"): (3, 1000)},
            power={"H100-SXM": (0, 5)},
        )
    }
    settings_ = SETTINGS.model_copy(update={"inventory": {"A30": 2, "H100-SXM": 1}})
    new = build_inputs(settings_, start, end, telemetry)
    assert_same(new, reference_build_inputs(settings_, start, end, telemetry))
    assert new.pools.pools == ["gone", "small"] and new.pool_gpus.tolist() == [1, 0]


def test_a_pool_and_an_unplaced_part_split_by_hand() -> None:
    """2 A30 in inventory; one whole GPU seen in ``small`` (1,000 MiB measured) and half a GPU the
    collector could not place: weights 0.5e6 (unplaced), 1e6 (small), 0.5e6 (never seen), so the pool
    pays half of the type's cost and the other half is unmeasured; 2 GPUs count as sampled."""
    ts = int(BOUNDARY.timestamp())
    rows = [
        (ts, "A30", "small", False, 1, 0, 1, 1000, 0, 0, 0, 0),
        (ts, "A30", "x", True, 0, 500_000, None, 0, 0, 0, 0, 0),
    ]
    settings_ = SETTINGS.model_copy(update={"inventory": {"A30": 2}})
    counts = gpu_count_columns_from_rows(rows)
    new = build_inputs(settings_, BOUNDARY, BOUNDARY + timedelta(seconds=STEP), group_telemetry(counts))
    row = new.cluster_cost_rows[0]
    cost = row["cost_usd_micros"] - row["overhead_usd_micros"]
    assert cost in (2 * 770_000 // 60, 2 * 770_000 // 60 + 1)  # $0.77/h, two GPUs, a minute
    assert new.pools.cost.tolist() in ([cost // 2], [cost - cost // 2])
    assert new.pools.cost.tolist()[0] + new.cluster_intervals[0].unmeasured_usd_micros == cost
    assert new.pools.memory.tolist() == [1000 * 2**20]
    assert new.pool_gpus.tolist() == [1] and row["gpus_sampled"] == 2
