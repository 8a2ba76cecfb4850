"""Placing one GPU's series: MIG memory slices from profile strings, shares of shared GPUs, problems.

The profile table is NVIDIA's MIG user guide (supported profiles per GPU): memory slices are what a
profile holds of the GPU's 8 (A30: 4).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.gpu_units import PPM, Reading, mig_memory_slices, place_gpu
from attribution.collectors.labels import workload

MIB = 1024 * 1024
A100_80 = 81_920 * MIB
A100_40 = 40_960 * MIB
H100_80 = 81_559 * MIB
H100_NVL = 95_830 * MIB
H200 = 143_771 * MIB
B200 = 183_359 * MIB
A30 = 24_576 * MIB


@pytest.mark.parametrize(
    ("memory", "profile", "slices"),
    [
        (A100_80, "1g.10gb", 1), (A100_80, "1g.10gb+me", 1), (A100_80, "1g.20gb", 2), (A100_80, "2g.20gb", 2),
        (A100_80, "3g.40gb", 4), (A100_80, "4g.40gb", 4), (A100_80, "7g.80gb", 8),
        (A100_40, "1g.5gb", 1), (A100_40, "1g.10gb", 2), (A100_40, "2g.10gb", 2), (A100_40, "3g.20gb", 4),
        (A100_40, "7g.40gb", 8),
        (H100_80, "1g.10gb", 1), (H100_80, "1g.20gb", 2), (H100_80, "3g.40gb", 4), (H100_80, "7g.80gb", 8),
        (H100_NVL, "1g.12gb", 1), (H100_NVL, "1g.24gb", 2), (H100_NVL, "3g.47gb", 4),
        (H100_NVL, "7g.94gb", 8),
        (H200, "1g.18gb", 1), (H200, "1g.35gb", 2), (H200, "3g.71gb", 4), (H200, "7g.141gb", 8),
        (B200, "1g.23gb", 1), (B200, "1g.45gb", 2), (B200, "3g.90gb", 4), (B200, "7g.180gb", 8),
        (A30, "1g.6gb", 1), (A30, "1g.6gb+me", 1), (A30, "2g.12gb", 2), (A30, "4g.24gb", 4),
    ],
)  # fmt: skip
def test_memory_slices_of_every_profile(memory: int, profile: str, slices: int) -> None:
    assert mig_memory_slices(profile, memory) == slices


@pytest.mark.parametrize("profile", ["", "7g.80gb", "3g.30gb", "8g.10gb", "1c.3g.40gb", "MIG 1g.10gb", "x"])
def test_a_profile_that_does_not_fit_the_gpu_is_unknown(profile: str) -> None:
    # 7g.80gb is not an A30 profile; 3g.30gb is 6 slices of 4... on an A30; the others are not profiles
    assert mig_memory_slices(profile, A30) is None


def r(
    mig: str | None, profile: str | None, pod: str | None, pool: str | None, fb_mib: float = 0.0
) -> Reading:
    return Reading(mig, profile, None if pod is None else f"ns/{pod}/c", pool, fb_mib * MIB, shared=False)


def test_a_mig_gpu_bills_each_instance_its_slices_and_leaves_free_slices_unallocated() -> None:
    parts = place_gpu([r("2", "3g.40gb", "a-0", "a"), r("9", "1g.10gb", None, None)], A100_80)
    assert [(p.part, p.pool, p.share_ppm, p.problem) for p in parts] == [
        ("mig:2", "a", 500_000, None),
        ("mig:9", None, 125_000, None),
        ("mig-free", None, 375_000, None),
    ]


def test_a_shared_gpu_splits_by_framebuffer_and_the_rest_is_free() -> None:
    parts = place_gpu([r(None, None, "a-0", "a", 20_480), r(None, None, "b-0", None, 40_960)], A100_80)
    assert [(p.part, p.pool, p.share_ppm) for p in parts] == [
        ("pod:ns/a-0/c", "a", 250_000),
        ("pod:ns/b-0/c", None, 500_000),
        ("free", None, 250_000),
    ]


def test_pods_sharing_a_mig_instance_split_it() -> None:
    """dcgm-exporter #594: per-process FB_USED for pods time-sharing one MIG instance."""
    parts = place_gpu([r("1", "7g.80gb", "a-0", "a", 10_240), r("1", "7g.80gb", "b-0", "b", 30_720)], A100_80)
    assert [(p.part, p.share_ppm) for p in parts] == [
        ("mig:1/pod:ns/a-0/c", 125_000),
        ("mig:1/pod:ns/b-0/c", 375_000),
        ("mig:1/free", 500_000),
    ]


def test_more_memory_than_the_gpu_holds_is_split_in_proportion() -> None:
    parts = place_gpu([r(None, None, "a-0", "a", 81_920), r(None, None, "b-0", "b", 81_920)], A100_80)
    assert [p.share_ppm for p in parts] == [500_000, 500_000, 0]


@pytest.mark.parametrize(
    ("readings", "problem"),
    [
        ([r("1", "9g.99gb", "a-0", "a")], "unknown profile"),
        ([r("1", "7g.80gb", "a-0", "a"), r("2", "3g.40gb", "b-0", "b")], "memory slices of 8"),
        ([r("1", "3g.40gb", "a-0", "a"), r(None, None, "a-0", "a")], "device-level"),
        ([r("1", "3g.40gb", "a-0", "a"), r("1", "4g.40gb", "a-0", "a")], "unknown profile"),
    ],
)
def test_what_cannot_be_placed_is_a_problem_never_dropped(readings: list[Reading], problem: str) -> None:
    parts = place_gpu(readings, A100_80)
    assert sum(p.share_ppm or 0 for p in parts) == PPM
    assert any(p.problem and problem in p.problem for p in parts)
    assert all(p.pool is None for p in parts if p.problem)


def test_old_and_exported_pod_labels_name_the_workload_not_the_exporter() -> None:
    exporter = {"pod": "nvidia-dcgm-exporter-7x2kq", "namespace": "gpu-operator", "container": "exporter"}
    assert workload(
        {**exporter, "exported_pod": "a-0", "exported_namespace": "ns", "exported_container": "c"}
    ) == ("ns/a-0/c")
    assert (
        workload({**exporter, "pod_name": "a-0", "pod_namespace": "ns", "container_name": "c"}) == "ns/a-0/c"
    )
    assert workload({"pod": "a-0", "namespace": "ns", "container": "c"}) == "ns/a-0/c"
    assert workload({"UUID": "GPU-1"}) is None


readings = st.lists(
    st.builds(
        Reading,
        mig_id=st.sampled_from([None, "1", "2", "9"]),
        profile=st.sampled_from(["1g.10gb", "3g.40gb", "2g.20gb", "9g.1gb"]),
        workload=st.sampled_from([None, "ns/a/c", "ns/b/c", "ns/c/c"]),
        pool=st.sampled_from([None, "a", "b"]),
        fb_used_bytes=st.integers(0, 90_000).map(lambda m: float(m * MIB)),
        shared=st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(readings)
def test_shares_sum_to_one_gpu_and_do_not_depend_on_order(rs: list[Reading]) -> None:
    parts = place_gpu(rs, A100_80)
    whole = [p for p in parts if p.share_ppm is None]
    assert (len(whole), len(parts)) == (1, 1) or sum(p.share_ppm or 0 for p in parts) == PPM
    for perm in itertools.islice(itertools.permutations(rs), 24):
        assert place_gpu(list(perm), A100_80) == parts
