"""GPU types: framebuffer capacity as dcgm-exporter reports it, and the ``modelName`` label that names them.

Memory capacity is the framebuffer total that nvidia-smi and dcgm-exporter report (FB_FREE + FB_USED +
FB_RESERVED, in MiB), not the marketing figure: it is the memory a pool can actually pin, so it is the
denominator M of the memory-time split.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.errors import UnknownCatalogEntryError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuSpec:
    key: str
    dcgm_model_name: str
    fb_total_mib: int
    hbm_bandwidth_tb_per_s: float

    @property
    def memory_bytes(self) -> int:
        return self.fb_total_mib * MIB


GPUS: dict[str, GpuSpec] = {
    g.key: g
    for g in (
        GpuSpec("A100-SXM-80GB", "NVIDIA A100-SXM4-80GB", 81_920, 2.0),
        GpuSpec("H100-SXM", "NVIDIA H100 80GB HBM3", 81_559, 3.35),
        GpuSpec("H200-SXM", "NVIDIA H200", 143_771, 4.8),
        GpuSpec("B200", "NVIDIA B200", 183_359, 8.0),
    )
}


def get_gpu(key: str) -> GpuSpec:
    try:
        return GPUS[key]
    except KeyError:
        raise UnknownCatalogEntryError(
            f"unknown GPU type {key!r}; known: {', '.join(sorted(GPUS))}"
        ) from None


def match_gpu(dcgm_model_name: str) -> GpuSpec | None:
    """The catalog GPU whose dcgm ``modelName`` label equals this one (case-insensitive), if any."""
    wanted = dcgm_model_name.strip().lower()
    for spec in GPUS.values():
        if spec.dcgm_model_name.lower() == wanted:
            return spec
    return None
