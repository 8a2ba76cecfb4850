"""The simulator's own GPU facts, read from ``gpus.toml``: MIG profiles and power envelopes.

They are the ground truth the collectors are tested against (the collector's MIG profile parser reads
the catalog, the simulator writes what NVIDIA's MIG user guide says), so they live apart from
``attribution/catalog/gpus.toml``. Loaded once at import; a broken entry fails it with the file and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attribution.errors import ConfigError
from attribution.sim.datafile import integer, number, only_keys, pair, read, string, table, where

FILE = "gpus.toml"


@dataclass(frozen=True)
class GpuFacts:
    """``mig_profiles[(gpu key, profile)]`` = (memory slices of the instance, of the GPU);
    ``power_watts[gpu key]`` = (idle watts, board power limit), ``default_power_watts`` for other types."""

    mig_profiles: dict[tuple[str, str], tuple[int, int]]
    power_watts: dict[str, tuple[float, float]]
    default_power_watts: tuple[float, float]


def _watts(value: object, file: str, field: str) -> tuple[float, float]:
    idle, limit = pair(value, file, field)
    watts = number(idle, file, f"{field}[0]"), number(limit, file, f"{field}[1]")
    if not 0 <= watts[0] <= watts[1]:
        raise ConfigError(f"{where(file, field)}: expected 0 <= idle <= limit, got {list(watts)}")
    return watts


def _slices(value: object, file: str, field: str) -> tuple[int, int]:
    owned, total = pair(value, file, field)
    slices = integer(owned, file, f"{field}[0]"), integer(total, file, f"{field}[1]")
    if not 0 < slices[0] <= slices[1]:
        raise ConfigError(f"{where(file, field)}: expected 0 < slices <= the GPU's, got {list(slices)}")
    return slices


def parse_gpu_facts(data: Mapping[str, Any], file: str = FILE) -> GpuFacts:
    """Check and convert ``gpus.toml``'s tables ``[default]`` and ``[gpus."<catalog key>"]``."""
    only_keys(data, {"default", "gpus"}, file, "")
    default = table(data.get("default"), file, "default")
    only_keys(default, {"power_watts"}, file, "default")
    mig: dict[tuple[str, str], tuple[int, int]] = {}
    power: dict[str, tuple[float, float]] = {}
    for key, entry in table(data.get("gpus", {}), file, "gpus").items():
        field = f"gpus.{key}"
        only_keys(table(entry, file, field), {"power_watts", "mig_profiles"}, file, field)
        if "power_watts" in entry:
            power[key] = _watts(entry["power_watts"], file, f"{field}.power_watts")
        for profile, value in table(entry.get("mig_profiles", {}), file, f"{field}.mig_profiles").items():
            mig[(key, string(profile, file, field))] = _slices(value, file, f"{field}.mig_profiles.{profile}")
    return GpuFacts(mig, power, _watts(default.get("power_watts"), file, "default.power_watts"))


FACTS = parse_gpu_facts(read(FILE))
#: (memory slices, of the GPU's memory slices) of the MIG profiles the simulator partitions GPUs into.
MIG_PROFILES = FACTS.mig_profiles
#: (idle watts, board power limit watts) per GPU catalog key.
POWER_WATTS = FACTS.power_watts
DEFAULT_POWER_WATTS = FACTS.default_power_watts
