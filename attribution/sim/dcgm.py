"""dcgm-exporter series, one set per GPU (one target per host), including GPUs that serve no pool.

Labels follow dcgm-exporter's render order: ``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``,
the host label (``Hostname`` up to tag 4.5.3-4.8.2, ``hostname`` after #655:
``Exporters.dcgm_host_label``), ``DCGM_FI_DRIVER_VERSION``, then the Kubernetes mapping ``pod``,
``namespace``, ``container`` for GPUs a pod holds. Scrape adds ``job`` and ``instance`` only: the exporter's
own ``pod``/``namespace`` are kept as if scraped with ``honor_labels: true`` (with ``false`` they would
become ``exported_pod``/``exported_namespace``).

Values: framebuffer in MiB summing to the catalog total; a serving GPU's FB_USED is constant at
gpu_memory_utilization x total (vLLM pre-allocates). During an engine restart the pod keeps its GPUs and
dcgm keeps reporting them: FB_USED drops to almost nothing when the process dies, climbs while the weights
load, and jumps back to the serving level for KV allocation and CUDA-graph capture before the engine
answers again. Utilisation, activity and power are plausible shapes that rise with the pool's running
requests and KV use, not a performance model.

A GPU shared by pools (``PoolSpec.gpu_group``) has one series per pool, as dcgm-exporter writes them: MIG
instances carry ``GPU_I_PROFILE`` and ``GPU_I_ID`` (after ``modelName``, issue #317) and their own
framebuffer (GPU_UTIL is 0: DCGM does not measure it per instance, #216); time-sliced pods carry a
``vgpu`` label (PR #432) and their own FB_USED (per process, #594) beside the device's FB_FREE.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from attribution.catalog import get_gpu
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.cluster import PoolSpec
from attribution.sim.exposition import Family, Kind, Rows, format_labels
from attribution.sim.hardware import DEFAULT_POWER_WATTS, MIG_PROFILES, POWER_WATTS
from attribution.sim.targets import Gpu, engine_pod
from attribution.sim.workload import FloatArray

DRIVER_VERSION = "550.127.05"
#: PCI bus ids of an HGX 8-GPU baseboard, by GPU index on the host.
PCI_BUS_IDS = (
    "00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0",
    "00000000:9A:00.0", "00000000:AB:00.0", "00000000:BA:00.0", "00000000:DB:00.0",
)  # fmt: skip
#: Framebuffer the driver reserves, as a fraction of the total (about 0.6 GiB on an 80 GB part).
FB_RESERVED_FRACTION = 0.0071
IDLE_FB_USED_MIB = 1
#: CUDA context and allocator overhead present as soon as a process loads weights.
CONTEXT_FB_MIB = 520
MIB = 1024 * 1024

FAMILIES: tuple[tuple[str, Kind, str], ...] = (
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active."),
)
#: Engine phases at a scrape: serving, process gone, loading weights, allocating KV / capturing graphs.
SERVING, DEAD, LOADING, INIT = 0, 1, 2, 3
#: GPU instance ids dcgm-exporter reports on an A100/H100, by the memory slices of the profile.
MIG_INSTANCE_IDS = {8: (0,), 4: (1, 2), 2: (3, 4, 5), 1: (7, 8, 9, 10, 11, 12, 13, 14)}


@dataclass(frozen=True)
class _Series:
    """One dcgm series: a whole GPU, or one pool's MIG instance (profile, GPU_I_ID) or time slice (vgpu)."""

    gpu: Gpu
    pool: int | None
    mig: tuple[str, str] | None = None
    vgpu: str | None = None


def _series_of(gpu: Gpu, pools: tuple[PoolSpec, ...]) -> list[_Series]:
    if not gpu.sharers:
        return [_Series(gpu, gpu.pool)]
    if pools[gpu.sharers[0]].mig_profile is None:
        return [_Series(gpu, k, vgpu=str(n + 1)) for n, k in enumerate(gpu.sharers)]
    taken: dict[int, int] = {}
    out = []
    for k in gpu.sharers:
        profile = str(pools[k].mig_profile)
        slices = MIG_PROFILES[(gpu.gpu_key, profile)][0]
        n = taken[slices] = taken.get(slices, -1) + 1
        out.append(_Series(gpu, k, mig=(profile, str(MIG_INSTANCE_IDS[slices][n]))))
    return out


class DcgmBuilder:
    """All GPUs of the inventory; ``targets[host]`` is each host's target index."""

    def __init__(self, context: SimContext, gpus: list[Gpu], targets: dict[str, int]) -> None:
        spec = context.spec
        self.context, self.gpus = context, gpus
        self.series = [s for g in gpus for s in _series_of(g, spec.pools)]
        self.targets = [targets[s.gpu.host] for s in self.series]
        self.label_texts = [format_labels(self._labels(s)) for s in self.series]
        self.pools = spec.pools

    def _labels(self, series: _Series) -> tuple[tuple[str, str], ...]:
        spec, gpu = self.context.spec, series.gpu
        mig = () if series.mig is None else (("GPU_I_PROFILE", series.mig[0]), ("GPU_I_ID", series.mig[1]))
        labels: tuple[tuple[str, str], ...] = (
            ("gpu", str(gpu.index)),
            ("UUID", gpu.uuid),
            ("pci_bus_id", PCI_BUS_IDS[gpu.index % len(PCI_BUS_IDS)]),
            ("device", f"nvidia{gpu.index}"),
            ("modelName", get_gpu(gpu.gpu_key).dcgm_model_name),
            *mig,
            (spec.exporters.dcgm_host_label, gpu.host),
            ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION),
        )
        if series.pool is not None:
            pod = engine_pod(spec.pools[series.pool])
            labels = (
                *labels,
                ("pod", pod),
                ("namespace", spec.namespace),
                ("container", spec.pools[series.pool].engine),
            )
        if series.vgpu is not None:
            labels = (*labels, ("vgpu", series.vgpu))
        return labels

    def families(self, chunk: Chunk) -> list[Family]:
        columns: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in FAMILIES}
        phases = [_phases(pool, chunk.scrapes) for pool in self.pools]
        for gpu in self.gpus:
            for values_of_series in self._gpu_values(chunk, gpu, phases):
                for name, values in values_of_series.items():
                    columns[name].append(values)
        return [
            Family(name, kind, help_text, [Rows(
                name, self.label_texts, self.targets, np.vstack(columns[name]))])
            for name, kind, help_text in FAMILIES
        ]  # fmt: skip

    def _gpu_values(self, chunk: Chunk, gpu: Gpu, phases: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """The gauges of each of the GPU's series; a time-sliced GPU's FB_FREE is the device's."""
        series = _series_of(gpu, self.pools)
        values = [self._series_values(chunk, s, phases) for s in series]
        if gpu.sharers and series[0].vgpu is not None:
            total_mib = get_gpu(gpu.gpu_key).fb_total_mib
            used = sum(v["DCGM_FI_DEV_FB_USED"] for v in values)
            free = total_mib - values[0]["DCGM_FI_DEV_FB_RESERVED"] - used
            for v in values:
                v["DCGM_FI_DEV_FB_FREE"] = free
        return values

    def _series_values(
        self, chunk: Chunk, series: _Series, phases: list[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """One series' gauges at every scrape; noise is seeded by the cluster seed, the GPU, the chunk (and
        the pool, for the series of a shared GPU)."""
        gpu, m = series.gpu, chunk.n_scrapes
        seed = [self.context.spec.seed, zlib.crc32(gpu.uuid.encode()), int(chunk.begin) & 0xFFFFFFFF]
        if gpu.sharers:
            seed.append(1 + int(series.pool or 0))
        rng = np.random.default_rng(seed)
        total_mib = get_gpu(gpu.gpu_key).fb_total_mib
        reserved_mib = round(FB_RESERVED_FRACTION * total_mib)
        if series.mig is not None:
            slices, all_slices = MIG_PROFILES[(gpu.gpu_key, series.mig[0])]
            total_mib, reserved_mib = total_mib * slices // all_slices, 0
        idle_w, limit_w = POWER_WATTS.get(gpu.gpu_key, DEFAULT_POWER_WATTS)
        if series.pool is None:
            used = np.full(m, IDLE_FB_USED_MIB, dtype=np.int64)
            zero = np.zeros(m, dtype=np.float64)
            util, engine, dram = np.zeros(m, dtype=np.int64), zero, zero
            power = idle_w + rng.normal(0.0, 1.5, m)
        else:
            pool = self.pools[series.pool]
            phase = phases[series.pool]
            used = _fb_used(pool, phase, chunk.scrapes, total_mib)
            util, engine, dram = _activity(
                chunk.running[series.pool], chunk.blocks[series.pool] / pool.usable_blocks, rng
            )
            init = phase == INIT
            util = np.where(phase == SERVING, util, np.where(init, 35, 0))
            engine = np.where(phase == SERVING, engine, np.where(init, 0.3, 0.0))
            dram = np.where(phase == SERVING, dram, np.where(init, 0.1, 0.0))
            power = idle_w + (limit_w - idle_w) * (0.08 + 0.72 * engine) + rng.normal(0.0, 4.0, m)
            power = np.where(phase == DEAD, idle_w + rng.normal(0.0, 1.5, m), power)
        return {
            "DCGM_FI_DEV_FB_USED": used,
            "DCGM_FI_DEV_FB_FREE": total_mib - used - reserved_mib,
            "DCGM_FI_DEV_FB_RESERVED": np.full(m, reserved_mib, dtype=np.int64),
            "DCGM_FI_DEV_GPU_UTIL": (util if series.mig is None else np.zeros(m)).astype(np.int64),
            "DCGM_FI_DEV_POWER_USAGE": np.round(np.clip(power, 0.5 * idle_w, limit_w), 3),
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE": np.round(engine, 4),
            "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": np.round(0.62 * engine, 4),
            "DCGM_FI_PROF_DRAM_ACTIVE": np.round(dram, 4),
        }


def _phases(pool: PoolSpec, scrapes: FloatArray) -> np.ndarray:
    phase = np.full(scrapes.size, SERVING, dtype=np.int64)
    for o in pool.outages:
        loading = o.at_seconds + o.restart_delay_seconds
        init = loading + o.reload_seconds
        up = init + o.init_seconds
        phase[(scrapes >= o.at_seconds) & (scrapes < loading)] = DEAD
        phase[(scrapes >= loading) & (scrapes < init)] = LOADING
        phase[(scrapes >= init) & (scrapes < up)] = INIT
    return phase


def _fb_used(pool: PoolSpec, phase: np.ndarray, scrapes: FloatArray, total_mib: int) -> np.ndarray:
    """MiB used: the serving level, ~0 while the process is gone, weights loading linearly, then serving."""
    serving = round(pool.gpu_memory_utilization * total_mib)
    used = np.full(scrapes.size, serving, dtype=np.int64)
    used[phase == DEAD] = IDLE_FB_USED_MIB
    weights_mib = pool.weights_bytes / pool.gpus / MIB
    for o in pool.outages:
        loading = o.at_seconds + o.restart_delay_seconds
        inside = (phase == LOADING) & (scrapes >= loading) & (scrapes < loading + o.reload_seconds)
        done = (scrapes[inside] - loading) / max(o.reload_seconds, 1e-9)
        used[inside] = np.rint(CONTEXT_FB_MIB + weights_mib * done).astype(np.int64)
    return used


def _activity(
    running: np.ndarray, kv_usage: FloatArray, rng: np.random.Generator
) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """GPU_UTIL (integer %), GR_ENGINE_ACTIVE and DRAM_ACTIVE (0-1): zero when nothing runs,
    saturating in the running requests (busy = 1 - exp(-running / 2)); DRAM also grows with KV use
    because decode streams the KV cache."""
    n = running.size
    active = running > 0
    busy = 1.0 - np.exp(-running / 2.0)
    util = np.where(active, np.clip(np.rint(100.0 * busy + rng.normal(0.0, 2.0, n)), 1, 100), 0)
    engine = np.where(active, np.clip(0.95 * busy + rng.normal(0.0, 0.015, n), 0.0, 1.0), 0.0)
    dram = busy * (0.3 + 0.45 * kv_usage) + rng.normal(0.0, 0.01, n)
    dram = np.where(active, np.clip(dram, 0.0, 1.0), 0.0)
    return util.astype(np.int64), engine, dram
