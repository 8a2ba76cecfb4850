"""dcgm-exporter series, one set per GPU, including GPUs that serve no pool.

Labels follow the render order of dcgm-exporter up to tag 4.5.3-4.8.2 (``Hostname`` with a capital H;
later releases spell it ``hostname``): ``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``,
``Hostname``, ``DCGM_FI_DRIVER_VERSION``, then the Kubernetes mapping ``pod``, ``namespace``,
``container`` for GPUs a pod holds. Scrape adds ``job`` and ``instance`` only: the exporter's own
``pod``/``namespace`` are kept as if scraped with ``honor_labels: true`` (with ``false`` they would be
renamed ``exported_pod``/``exported_namespace``).

Values: framebuffer in MiB summing to the catalog total; a serving GPU's FB_USED is constant at
gpu_memory_utilization x total (vLLM pre-allocates). Utilisation, engine/DRAM activity and power are
plausible shapes that rise with the pool's running requests and KV use, not a performance model.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from attribution.catalog import get_gpu
from attribution.sim.openmetrics import Family, Labels, Series
from attribution.sim.scenario import ClusterSpec
from attribution.sim.timeline import PoolLoad, SimRun
from attribution.sim.vllm import engine_pod
from attribution.sim.workload import FloatArray

GPUS_PER_HOST = 8
DCGM_PORT = 9400
DRIVER_VERSION = "550.127.05"
#: PCI bus ids of an HGX 8-GPU baseboard, by GPU index on the host.
PCI_BUS_IDS = (
    "00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0",
    "00000000:9A:00.0", "00000000:AB:00.0", "00000000:BA:00.0", "00000000:DB:00.0",
)  # fmt: skip
#: Framebuffer the driver reserves, as a fraction of the total (about 0.6 GiB on an 80 GB part).
FB_RESERVED_FRACTION = 0.0071
IDLE_FB_USED_MIB = 1
#: (idle watts, board power limit watts) per GPU catalog key.
POWER_WATTS: dict[str, tuple[float, float]] = {
    "A100-SXM-80GB": (60.0, 400.0),
    "H100-SXM": (70.0, 700.0),
    "H200-SXM": (90.0, 700.0),
    "B200": (150.0, 1000.0),
}
DEFAULT_POWER_WATTS = (80.0, 700.0)


@dataclass(frozen=True)
class Gpu:
    host: str
    index: int
    gpu_key: str
    pool: int | None
    uuid: str


def gpu_inventory(spec: ClusterSpec) -> list[Gpu]:
    """Pack GPUs onto hosts of 8, one GPU type per host: each pool's GPUs contiguous (a pool starts a
    new host rather than straddle one when it fits on a fresh one), then that type's unallocated GPUs.
    """
    types = list(dict.fromkeys([p.gpu_key for p in spec.pools] + list(spec.unallocated_gpus)))
    gpus: list[Gpu] = []
    host_number = 0
    for gpu_key in types:
        groups: list[tuple[int | None, int]] = [
            (i, p.gpus) for i, p in enumerate(spec.pools) if p.gpu_key == gpu_key
        ]
        groups.append((None, spec.unallocated_gpus.get(gpu_key, 0)))
        used = GPUS_PER_HOST  # forces a new host for the first group of each type
        for pool, count in groups:
            if pool is not None and used + count > GPUS_PER_HOST:
                used = GPUS_PER_HOST
            for _ in range(count):
                if used == GPUS_PER_HOST:
                    host_number += 1
                    used = 0
                host = f"gpu-node-{host_number:02d}"
                gpus.append(Gpu(host, used, gpu_key, pool, _fake_uuid(spec.seed, host, used)))
                used += 1
    return gpus


def _fake_uuid(seed: int, host: str, index: int) -> str:
    h = hashlib.sha256(f"{seed}:{host}:{index}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _labels(spec: ClusterSpec, gpu: Gpu) -> Labels:
    labels: Labels = (
        ("gpu", str(gpu.index)),
        ("UUID", gpu.uuid),
        ("pci_bus_id", PCI_BUS_IDS[gpu.index % len(PCI_BUS_IDS)]),
        ("device", f"nvidia{gpu.index}"),
        ("modelName", get_gpu(gpu.gpu_key).dcgm_model_name),
        ("Hostname", gpu.host),
        ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION),
    )
    if gpu.pool is not None:
        pod = engine_pod(spec.pools[gpu.pool])
        labels = (*labels, ("pod", pod), ("namespace", spec.namespace), ("container", "vllm"))
    return (*labels, ("job", "dcgm-exporter"), ("instance", f"{gpu.host}:{DCGM_PORT}"))


FAMILIES: tuple[tuple[str, str], ...] = (
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB)."),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active."),
)


def dcgm_families(run: SimRun, load: PoolLoad) -> list[Family]:
    per_family: dict[str, list[Series]] = {name: [] for name, _ in FAMILIES}
    for gpu in gpu_inventory(run.spec):
        labels = _labels(run.spec, gpu)
        for name, values in _gpu_values(run, load, gpu).items():
            per_family[name].append(Series(name, labels, values))
    return [Family(name, "gauge", text, tuple(per_family[name])) for name, text in FAMILIES]


def _gpu_values(run: SimRun, load: PoolLoad, gpu: Gpu) -> dict[str, np.ndarray]:
    """One GPU's gauges at every scrape; noise is seeded by the cluster seed and the GPU's UUID."""
    n = run.n_scrapes
    rng = np.random.default_rng([run.spec.seed, zlib.crc32(gpu.uuid.encode())])
    total_mib = get_gpu(gpu.gpu_key).fb_total_mib
    reserved_mib = round(FB_RESERVED_FRACTION * total_mib)
    idle_w, limit_w = POWER_WATTS.get(gpu.gpu_key, DEFAULT_POWER_WATTS)
    if gpu.pool is None:
        used_mib = IDLE_FB_USED_MIB
        zero = np.zeros(n, dtype=np.float64)
        util, engine, dram = np.zeros(n, dtype=np.int64), zero, zero
        power = idle_w + rng.normal(0.0, 1.5, n)
    else:
        pool = run.spec.pools[gpu.pool]
        used_mib = round(pool.gpu_memory_utilization * total_mib)
        util, engine, dram = _activity(load.running[gpu.pool], load.kv_usage[gpu.pool], rng)
        power = idle_w + (limit_w - idle_w) * (0.08 + 0.72 * engine) + rng.normal(0.0, 4.0, n)

    def constant(mib: int) -> np.ndarray:
        return np.full(n, mib, dtype=np.int64)

    return {
        "DCGM_FI_DEV_FB_USED": constant(used_mib),
        "DCGM_FI_DEV_FB_FREE": constant(total_mib - used_mib - reserved_mib),
        "DCGM_FI_DEV_FB_RESERVED": constant(reserved_mib),
        "DCGM_FI_DEV_GPU_UTIL": util,
        "DCGM_FI_DEV_POWER_USAGE": np.round(np.clip(power, 0.5 * idle_w, limit_w), 3),
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": np.round(engine, 4),
        "DCGM_FI_PROF_DRAM_ACTIVE": np.round(dram, 4),
    }


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
