"""The what-if and headroom arithmetic against figures worked by hand (round numbers, so each is checkable
on paper): a pool of 2 replicas x 2 GPUs of 100 bytes, 60 bytes of weights, 2 KV bytes per token."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from attribution.model.efficiency import headroom
from attribution.model.whatif import Deployment, MeasuredLoad, NonKv, answer, calibrate, kv_capacity_bytes

NOW = Deployment(
    gpu_type="X",
    gpu_memory_bytes=100,
    usd_micros_per_gpu_hour=1_000_000,  # $1 per GPU-hour
    tensor_parallel=2,
    replicas=2,
    kv_dtype="auto",
    kv_bytes_per_token=2,
    weights_bytes=60,
)
LOAD = MeasuredLoad(
    window_seconds=3600,
    peak_kv_tokens=100,  # pool-wide, in one interval
    peak_requests_running=30,
    max_num_seqs=16,
    tier_cost_usd_micros={"long": 1, "short": 3},
    tier_tokens={"long": 500_000, "short": 1_000_000},
)
#: the engine reported 120 bytes of KV per replica: 2 x 100 - 60 - 120 = 20 bytes left, 10 per GPU
MEASURED_CAPACITY = 120
#: 10 bytes per GPU outside weights and KV, all of it a fixed reserve
REST = NonKv(Decimal(0), 10)


def test_calibration_reproduces_the_measured_capacity() -> None:
    assert calibrate(NOW, MEASURED_CAPACITY, Decimal(0)) == REST
    # with 5% of each GPU unused: 5 bytes of the 10 are the unused share, 5 a reserve
    split = calibrate(NOW, MEASURED_CAPACITY, Decimal("0.05"))
    assert split == NonKv(Decimal("0.05"), 5)
    assert kv_capacity_bytes(NOW, split) == MEASURED_CAPACITY
    # on GPUs of 200 bytes the unused share doubles, the reserve does not: 2 x 200 - 60 - 2 x (10 + 5)
    assert kv_capacity_bytes(replace(NOW, gpu_memory_bytes=200), split) == 310


def test_as_run_by_hand() -> None:
    a = answer(NOW, LOAD, REST)
    assert a.gpus == 4
    assert a.usd_micros_per_month == 4 * 1_000_000 * 730  # $2,920 a month
    assert a.window_cost_usd_micros == 4_000_000  # 4 GPU-hours at $1
    assert a.kv_capacity_tokens_per_replica == 60  # 120 bytes / 2
    assert a.peak_kv_tokens_per_replica == 50  # 100 tokens over 2 replicas
    assert a.peak_kv_bytes_per_replica == 100
    assert a.kv_peak_ratio == Decimal("0.833333") and a.kv_fits  # 50 of 60, under the 0.9 fit ratio
    assert a.peak_requests_per_replica == 15 and a.batch_fits  # 30 / 2 <= 16
    # $4 split 3:1 over the tiers: short $3 for 1M tokens, long $1 for 0.5M tokens
    assert a.tier_cost_usd_micros == {"long": 1_000_000, "short": 3_000_000}
    assert a.usd_per_million_tokens == {"long": Decimal("2.000000"), "short": Decimal("3.000000")}
    assert a.usd_per_million_tokens_all == Decimal("2.666667")  # $4 / 1.5M tokens


def test_one_replica_fewer_does_not_fit_when_the_peak_exceeds_what_is_left() -> None:
    a = answer(replace(NOW, replicas=1), LOAD, REST)
    assert a.gpus == 2 and a.window_cost_usd_micros == 2_000_000
    assert a.peak_kv_tokens_per_replica == 100 > a.kv_capacity_tokens_per_replica == 60
    assert not a.kv_fits
    assert a.peak_requests_per_replica == 30 and a.batch_fits is False
    assert a.usd_per_million_tokens["short"] == Decimal("1.500000")  # half the GPUs, same tokens


def test_fp8_halves_kv_bytes_per_token_and_doubles_the_tokens_that_fit() -> None:
    fp8 = answer(replace(NOW, replicas=1, kv_dtype="fp8", kv_bytes_per_token=1), LOAD, REST)
    assert fp8.kv_capacity_bytes_per_replica == 120  # the same bytes ...
    assert fp8.kv_capacity_tokens_per_replica == 120  # ... hold twice the tokens
    assert fp8.peak_kv_bytes_per_replica == 100  # 100 tokens x 1 byte
    assert fp8.kv_fits  # so one replica fewer fits with an FP8 KV cache


def test_another_gpu_and_tensor_parallel_size_by_hand() -> None:
    # 1 replica of 4 GPUs of 50 bytes at $2: 200 - 60 - 4 x 10 = 100 bytes of KV, 50 tokens
    a = answer(
        replace(NOW, gpu_memory_bytes=50, usd_micros_per_gpu_hour=2_000_000, tensor_parallel=4, replicas=1),
        LOAD,
        REST,
    )
    assert a.kv_capacity_bytes_per_replica == 100 and a.kv_capacity_tokens_per_replica == 50
    assert not a.kv_fits  # 100 tokens on one replica
    assert a.usd_micros_per_month == 4 * 2_000_000 * 730


def test_window_cost_rounds_half_even_to_the_micro_dollar() -> None:
    # 1 GPU at 1.000001 $/h for 1800 s is 500000.5 micro-USD: half-even gives 500000
    one = replace(NOW, tensor_parallel=1, replicas=1, usd_micros_per_gpu_hour=1_000_001)
    assert answer(one, replace(LOAD, window_seconds=1800), REST).window_cost_usd_micros == 500_000


def test_a_peak_above_the_fit_ratio_does_not_fit() -> None:
    # 55 of 60 tokens is 0.916667 full: within capacity, but above 0.9, where sub-interval bursts preempt
    tight = answer(NOW, replace(LOAD, peak_kv_tokens=110), REST)
    assert tight.peak_kv_tokens_per_replica == 55 and tight.kv_peak_ratio == Decimal("0.916667")
    assert not tight.kv_fits
    assert answer(NOW, replace(LOAD, peak_kv_tokens=108), REST).kv_fits  # 54 of 60 is 0.9


@pytest.mark.parametrize("occupancy", [Decimal("0.8"), Decimal("0.95")])
def test_headroom_is_zero_at_or_above_target(occupancy: Decimal) -> None:
    h = headroom(1_000_000, 2_000_000, occupancy, Decimal("0.8"))
    assert h.headroom_usd_micros == 0
    assert h.usd_per_million_tokens == h.usd_per_million_tokens_at_target == Decimal("0.500000")
    assert h.headroom_usd_per_million_tokens == Decimal("0.000000")


def test_headroom_by_hand() -> None:
    # at 0.4 of a 0.8 target, half of the $1 bought headroom; 2M tokens: $0.50 measured, $0.25 at target
    h = headroom(1_000_000, 2_000_000, Decimal("0.4"), Decimal("0.8"))
    assert h.headroom_usd_micros == 500_000
    assert h.usd_per_million_tokens == Decimal("0.500000")
    assert h.usd_per_million_tokens_at_target == Decimal("0.250000")
    assert h.headroom_usd_per_million_tokens == Decimal("0.250000")


def test_headroom_without_occupancy_or_tokens() -> None:
    assert headroom(1_000_000, 0, None, Decimal("0.8")).usd_per_million_tokens is None
    assert headroom(1_000_000, 10, None, Decimal("0.8")).headroom_usd_micros == 0
    with pytest.raises(ValueError, match="target occupancy"):
        headroom(1, 1, Decimal("0.5"), Decimal("0"))
