"""GPU types: framebuffer capacity, the dcgm ``modelName`` labels that name them, and MIG geometry.

Memory capacity is the framebuffer total that nvidia-smi and dcgm-exporter report (FB_FREE + FB_USED +
FB_RESERVED, in MiB), not the marketing figure: it is the memory a pool can actually pin, so it is the
denominator M of the memory-time split. The catalog's figure is the fallback for GPUs whose exporter does
not report the three gauges (docs/catalog.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from attribution.errors import UnknownCatalogEntryError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MigGeometry:
    """A MIG-capable GPU's slices and, per profile string (``3g.40gb``), the memory slices it owns."""

    compute_slices: int
    memory_slices: int
    profiles: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.compute_slices < 1 or self.memory_slices < 1:
            raise ValueError("MIG compute_slices and memory_slices must be positive")
        for name, slices in self.profiles.items():
            if not 1 <= slices <= self.memory_slices:
                raise ValueError(f"MIG profile {name!r}: {slices} memory slices of {self.memory_slices}")


@dataclass(frozen=True, slots=True)
class GpuSpec:
    key: str
    dcgm_model_names: tuple[str, ...]
    fb_total_mib: int
    source: str = "declared in attribution.toml"
    hbm_bandwidth_tb_per_s: float | None = None
    mig: MigGeometry | None = None

    def __post_init__(self) -> None:
        if not self.dcgm_model_names or self.fb_total_mib < 1:
            raise ValueError(f"GPU type {self.key!r}: needs dcgm_model_names and a positive fb_total_mib")

    @property
    def dcgm_model_name(self) -> str:
        """The first (canonical) ``modelName`` of the type: the one the simulator emits."""
        return self.dcgm_model_names[0]

    @property
    def memory_bytes(self) -> int:
        return self.fb_total_mib * MIB

    def matches(self, dcgm_model_name: str) -> bool:
        wanted = dcgm_model_name.strip().lower()
        return any(name.lower() == wanted for name in self.dcgm_model_names)

    def mig_memory_fraction(self, profile: str) -> Fraction:
        """The share of this GPU a MIG instance of ``profile`` owns: its memory slices over the GPU's
        (A100-80GB: ``1g.10gb`` is 1/8, ``3g.40gb`` 4/8, ``7g.80gb`` 8/8). A ``+me`` variant owns the
        memory of its base profile (``1g.10gb+me``, also written ``1g.10gb.me``). An unknown profile is an
        error naming how to declare it."""
        base = profile.strip().lower().removeprefix("mig ").split("+", 1)[0].removesuffix(".me")
        slices = None if self.mig is None else self.mig.profiles.get(base)
        if self.mig is None or slices is None:
            known = "" if self.mig is None else f"; known: {', '.join(self.mig.profiles)}"
            raise UnknownCatalogEntryError(
                f"GPU type {self.key!r} has no MIG profile {profile!r}{known}; declare it under "
                f"[[gpu_types]] with [gpu_types.mig] profiles in attribution.toml (docs/catalog.md)"
            )
        return Fraction(slices, self.mig.memory_slices)


def gpu_from_entry(entry: Mapping[str, Any]) -> GpuSpec:
    """A spec from a ``[[gpus]]`` / ``[[gpu_types]]`` table; ValueError naming the problem."""
    allowed = {"key", "dcgm_model_names", "dcgm_model_name", "fb_total_mib", "source"}
    allowed |= {"hbm_bandwidth_tb_per_s"}
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("needs key = '<name inventory and prices use>'")
    if unknown := sorted(set(entry) - allowed - {"mig"}):
        raise ValueError(f"GPU type {key!r}: unknown field {', '.join(unknown)} (see docs/catalog.md)")
    single = entry.get("dcgm_model_name")
    names = entry.get("dcgm_model_names") or ([single] if single else [])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"GPU type {key!r}: needs dcgm_model_names = ['<modelName label>', ...]")
    mib = entry.get("fb_total_mib")
    if isinstance(mib, bool) or not isinstance(mib, int):
        raise ValueError(f"GPU type {key!r}: needs fb_total_mib (FB_USED + FB_FREE + FB_RESERVED in MiB)")
    bandwidth = entry.get("hbm_bandwidth_tb_per_s")
    return GpuSpec(
        key=key,
        dcgm_model_names=tuple(names),
        fb_total_mib=mib,
        source=str(entry.get("source") or "declared in attribution.toml"),
        hbm_bandwidth_tb_per_s=None if bandwidth is None else float(bandwidth),
        mig=_mig(key, entry.get("mig")),
    )


def _mig(key: str, table: Any) -> MigGeometry | None:
    if table is None:
        return None
    if not isinstance(table, Mapping) or set(table) - {"compute_slices", "memory_slices", "profiles"}:
        raise ValueError(f"GPU type {key!r}: mig takes compute_slices, memory_slices and profiles")
    profiles = table.get("profiles", {})
    if not isinstance(profiles, Mapping) or not all(isinstance(v, int) for v in profiles.values()):
        raise ValueError(f"GPU type {key!r}: mig.profiles maps a profile like '1g.10gb' to its memory slices")
    try:
        return MigGeometry(
            int(table["compute_slices"]),
            int(table["memory_slices"]),
            {str(k).lower(): int(v) for k, v in profiles.items()},
        )
    except KeyError as exc:
        raise ValueError(f"GPU type {key!r}: mig needs {exc.args[0]}") from None
    except ValueError as exc:
        raise ValueError(f"GPU type {key!r}: {exc}") from None
