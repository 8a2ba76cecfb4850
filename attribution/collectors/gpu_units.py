"""Placing one physical GPU's series in one interval: MIG instances, shared GPUs, whole GPUs.

dcgm-exporter writes several series for one ``UUID``: one per MIG instance (``GPU_I_ID``,
``GPU_I_PROFILE``) and, on a shared GPU (time-slicing, MPS, ``--kubernetes-virtual-gpus``), one per pod.
This module turns them into **parts** of the GPU, each with a share in parts per million (ppm) of the
physical GPU, the pool it serves (None: unallocated, idle hardware) and, for a series that cannot be
placed, the problem (its share then goes to ``__unmeasured__``). The shares of one GPU always sum to
exactly one million. Nothing depends on the order the series arrived in: every grouping is sorted.

The rules (docs/collectors.md, "MIG and shared GPUs"):

* A MIG instance is its own billing unit: memory slices / the GPU's memory slices, from the profile
  (:func:`mig_memory_slices`); slices no instance holds are a ``mig-free`` part (unallocated).
* A unit (the whole GPU, or one MIG instance) with one workload goes wholly to that workload's pool.
* A unit with several workloads (or a ``vgpu`` label) is split by each workload's FB_USED; the rest of
  the unit's memory is a ``free`` part (unallocated).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from attribution.model.money import allocate

PPM = 1_000_000
GIB = 1024**3
#: Memory slices of a MIG-capable GPU, by its memory in GiB where it is not 8 (A30 24 GB: 4 slices).
#: A100, H100, H200, B200 and GB200 have 8. The catalog's ``[[gpu_types]]`` should carry this.
MEMORY_SLICES_BY_GIB: dict[int, int] = {24: 4}
DEFAULT_MEMORY_SLICES = 8
_PROFILE = re.compile(r"(?P<compute>[1-7])g\.(?P<gb>\d+)gb(?:[+-][a-z]+)*", re.IGNORECASE)
#: How far the profile's memory may be from a whole number of slices (H200: 71 GB is 4.06 slices).
_SLICE_TOLERANCE = 0.25


@dataclass(frozen=True, slots=True)
class Reading:
    """One series of one GPU in one interval. ``workload`` is ``namespace/pod/container`` (None: no pod
    labels); ``pool`` the pool whose selector its labels match."""

    mig_id: str | None
    profile: str | None
    workload: str | None
    pool: str | None
    fb_used_bytes: float | None
    shared: bool
    """The series carries a ``vgpu`` label (time-slicing or MPS through the device plugin)."""


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of one GPU: ``part`` names it (``""`` the whole GPU, ``mig:<id>``, ``.../pod:<workload>``,
    ``.../free``); ``share_ppm`` None means the whole GPU, as before MIG and sharing were read."""

    part: str
    pool: str | None
    share_ppm: int | None
    problem: str | None
    fb_used_bytes: float | None
    series: tuple[str, str] | None = None
    """(MIG instance id or "", workload or "") of the series the part reads, None for free parts."""


def total_memory_slices(gpu_memory_bytes: int) -> int:
    return MEMORY_SLICES_BY_GIB.get(round(gpu_memory_bytes / GIB), DEFAULT_MEMORY_SLICES)


def mig_memory_slices(profile: str, gpu_memory_bytes: int) -> int | None:
    """Memory slices of a MIG profile (``1g.10gb``, ``3g.40gb``, ``1g.6gb``, ``1g.10gb+me``) on a GPU with
    this much memory, or None when the string is not a profile or does not fit the GPU.

    Slices = round(profile GB x the GPU's memory slices / the GPU's memory in GiB): ``1g.10gb`` on an
    80 GB A100 is 1 of 8, ``3g.40gb`` 4 of 8, ``1g.10gb`` on a 40 GB A100 2 of 8, ``1g.6gb`` on an A30
    1 of 4. Memory slices are what a profile takes from the GPU (``3g.40gb`` holds half the memory and
    leaves no room for a fourth compute slice), so they are what the instance is billed for.
    """
    match = _PROFILE.fullmatch(profile.strip())
    if match is None or gpu_memory_bytes <= 0:
        return None
    total = total_memory_slices(gpu_memory_bytes)
    exact = int(match["gb"]) * total / (gpu_memory_bytes / GIB)
    slices = round(exact)
    if not 1 <= slices <= total or abs(exact - slices) > _SLICE_TOLERANCE:
        return None
    return slices


def place_gpu(readings: Sequence[Reading], gpu_memory_bytes: int | None) -> list[Part]:
    """The parts of one GPU in one interval, shares summing to one million (or a single whole part)."""
    if not readings:
        return []
    if len(readings) == 1 and is_whole_gpu(readings[0]):
        return [whole_gpu(readings[0], readings[0].fb_used_bytes)]
    mig = [r for r in readings if r.mig_id is not None]
    if not mig:
        return _split_unit("", PPM, readings, gpu_memory_bytes, whole=True)
    device = sorted({r.pool for r in readings if r.mig_id is None and r.pool is not None})
    if device:
        return _unplaced(readings, f"a device-level series (pool {device[0]}) beside MIG instances")
    if gpu_memory_bytes is None:
        return _unplaced(readings, "MIG on a GPU type outside the catalog (unknown memory slices)")
    return _place_mig(mig, gpu_memory_bytes)


def is_whole_gpu(reading: Reading) -> bool:
    """A GPU read as this one series alone is whole (:func:`whole_gpu`) unless it is a MIG instance or
    shared: the common case (a fleet has a million GPU-intervals a day)."""
    return reading.mig_id is None and not reading.shared


def whole_gpu(reading: Reading, fb_used_bytes: float | None) -> Part:
    """The one part of a GPU whose only series is ``reading`` (:func:`is_whole_gpu`): all of it, in the
    series' pool. The GPU collector calls it with the interval's FB_USED instead of building a
    :class:`Reading` per sample for :func:`place_gpu`."""
    return Part("", reading.pool, None, None, fb_used_bytes, ("", reading.workload or ""))


def _place_mig(readings: Sequence[Reading], memory: int) -> list[Part]:
    total = total_memory_slices(memory)
    by_id: dict[str, list[Reading]] = {}
    for r in readings:
        by_id.setdefault(str(r.mig_id), []).append(r)
    ids = sorted(by_id, key=lambda i: (len(i), i))
    slices: dict[str, int] = {}
    problems: dict[str, str] = {}
    for mig_id in ids:
        profiles = sorted({r.profile or "" for r in by_id[mig_id]})
        n = mig_memory_slices(profiles[0], memory) if len(profiles) == 1 else None
        if n is None:
            shown = ", ".join(repr(p) for p in profiles)
            problems[mig_id] = f"MIG instance {mig_id}: unknown profile {shown} for this GPU"
        else:
            slices[mig_id] = n
    used = sum(slices.values())
    if used > total:
        return _unplaced(readings, f"MIG instances hold {used} memory slices of {total}")
    free = total - used
    # instances with an unknown profile share the unheld slices between them: unmeasured, not idle
    weights = [slices.get(i, 0) for i in ids]
    unknown = [k for k, i in enumerate(ids) if i in problems]
    if unknown and free:
        for k, n in zip(unknown, allocate(free, [1] * len(unknown)), strict=True):
            weights[k] = n
    weights.append(0 if problems else free)
    shares = allocate(PPM, weights) if sum(weights) else [0] * len(weights)
    parts: list[Part] = []
    for mig_id, share in zip(ids, shares, strict=False):
        name = f"mig:{mig_id}"
        if mig_id in problems:
            parts.extend(_unplaced(by_id[mig_id], problems[mig_id], name, share))
        else:
            unit_memory = memory * slices[mig_id] // total
            parts.extend(_split_unit(name, share, by_id[mig_id], unit_memory, whole=False))
    if not problems and free:
        parts.append(Part("mig-free", None, shares[-1], None, None))
    return parts


def _split_unit(
    name: str, share: int, readings: Sequence[Reading], unit_memory: int | None, *, whole: bool
) -> list[Part]:
    """One unit's parts: one workload takes it all; several split it by FB_USED, the rest free."""
    by_workload: dict[str | None, list[Reading]] = {}
    for r in readings:
        by_workload.setdefault(r.workload, []).append(r)
    keyed = sorted(w for w in by_workload if w is not None)
    shared = len(keyed) > 1 or any(r.shared for r in readings)
    if not shared:
        pools = sorted({r.pool or "" for r in readings})
        if len(pools) > 1:
            return _unplaced(readings, f"one unit, several pools: {', '.join(pools)}", name, share)
        fb = max((r.fb_used_bytes for r in readings if r.fb_used_bytes is not None), default=None)
        source = (readings[0].mig_id or "", min(r.workload or "" for r in readings))
        return [Part(name, pools[0] or None, None if whole else share, None, fb, source)]
    device_pools = sorted({r.pool for r in by_workload.get(None, []) if r.pool is not None})
    if device_pools:
        problem = f"a series without pod labels (pool {device_pools[0]}) on a shared GPU"
        return _unplaced(readings, problem, name, share)
    if unit_memory is None:
        return _unplaced(readings, "a shared GPU of a type outside the catalog (unknown memory)", name, share)
    used: list[int] = []
    for w in keyed:
        values = [r.fb_used_bytes for r in by_workload[w] if r.fb_used_bytes is not None]
        pools = sorted({r.pool or "" for r in by_workload[w]})
        if not values or len(pools) > 1:
            return _unplaced(readings, f"pod {w}: no FB_USED or several pools", name, share)
        used.append(max(0, round(max(values))))
    weights = [*used, max(0, unit_memory - sum(used))]
    shares = allocate(share, weights) if sum(weights) else [0] * len(used) + [share]
    prefix = f"{name}/" if name else ""
    mig_id = readings[0].mig_id or ""
    parts = [
        Part(f"{prefix}pod:{w}", by_workload[w][0].pool, s, None, float(u), (mig_id, w))
        for w, s, u in zip(keyed, shares, used, strict=False)
    ]
    parts.append(Part(f"{prefix}free", None, shares[-1], None, None))
    return parts


def _unplaced(readings: Sequence[Reading], problem: str, name: str = "", share: int = PPM) -> list[Part]:
    """Every series of the unit kept as a row with the problem; the unit's share goes to unmeasured."""
    keys = sorted({(r.mig_id or "", r.workload or "") for r in readings})
    shares = allocate(share, [1] * len(keys)) if share else [0] * len(keys)
    parts = []
    for (mig_id, workload), s in zip(keys, shares, strict=True):
        label = name or (f"mig:{mig_id}" if mig_id else "")
        label = f"{label}/pod:{workload}" if workload else label
        part = f"{label}/unplaced" if label else "unplaced"
        parts.append(Part(part, None, s, problem, None, (mig_id, workload)))
    return parts
