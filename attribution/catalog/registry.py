"""The catalog: shipped TOML data (``models.toml``, ``gpus.toml``) plus what ``attribution.toml`` declares.

Declared entries extend the shipped catalog or override an entry of the same key. A lookup of an unknown
model or GPU raises one line that says how to declare it.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from typing import Any

from attribution.catalog.gpus import GpuSpec, gpu_from_entry
from attribution.catalog.hfconfig import spec_from_entry
from attribution.catalog.models import ModelSpec, spec_by_key
from attribution.errors import UnknownCatalogEntryError

HOW_TO_DECLARE_MODEL = (
    "declare it under [[models]] in attribution.toml, by its config.json fields "
    "(num_hidden_layers, num_key_value_heads, head_dim, torch_dtype, ...) or with "
    "config_json = '/path/to/config.json' (docs/catalog.md)"
)
HOW_TO_DECLARE_GPU = (
    "declare it under [[gpu_types]] in attribution.toml with key, dcgm_model_names and fb_total_mib "
    "(docs/catalog.md)"
)


@dataclass(frozen=True, slots=True)
class Catalog:
    models: Mapping[str, ModelSpec]
    gpus: Mapping[str, GpuSpec]

    def has_model(self, key: str) -> bool:
        return spec_by_key(self.models, key) is not None

    def model(self, key: str) -> ModelSpec:
        found = spec_by_key(self.models, key)
        if found is None:
            raise UnknownCatalogEntryError(unknown_model_message(key, self))
        return found

    def gpu(self, key: str) -> GpuSpec:
        found = self.gpus.get(key)
        if found is None:
            raise UnknownCatalogEntryError(unknown_gpu_message(key, self))
        return found

    def match_gpu(self, dcgm_model_name: str) -> GpuSpec | None:
        """The GPU type whose dcgm ``modelName`` equals this one (case-insensitive, whole string)."""
        return next((g for g in self.gpus.values() if g.matches(dcgm_model_name)), None)

    def mig_memory_fraction(self, gpu_type: str, profile: str) -> Fraction:
        """A MIG instance's memory slices over its GPU's (see :meth:`GpuSpec.mig_memory_fraction`)."""
        return self.gpu(gpu_type).mig_memory_fraction(profile)

    def extended(self, models: Iterable[ModelSpec] = (), gpus: Iterable[GpuSpec] = ()) -> Catalog:
        """This catalog with ``models`` and ``gpus`` added; an entry with an existing key replaces it."""
        new_models = dict(self.models)
        for m in models:
            new_models[m.key] = m
        new_gpus = dict(self.gpus)
        for g in gpus:
            new_gpus[g.key] = g
        return Catalog(new_models, new_gpus)


def unknown_model_message(key: str, catalog: Catalog) -> str:
    return f"unknown model {key!r}{_suggest(key, catalog.models)}; {HOW_TO_DECLARE_MODEL}"


def unknown_gpu_message(key: str, catalog: Catalog) -> str:
    return f"unknown GPU type {key!r}{_suggest(key, catalog.gpus)}; {HOW_TO_DECLARE_GPU}"


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _load(name: str, table: str) -> list[dict[str, Any]]:
    text = resources.files("attribution.catalog").joinpath(name).read_text(encoding="utf-8")
    entries = tomllib.loads(text).get(table, [])
    return [dict(e) for e in entries]


def load_shipped() -> Catalog:
    """Parse the shipped data files (a few milliseconds); a broken entry fails the import loudly."""
    models = [spec_from_entry(e) for e in _load("models.toml", "models")]
    gpus = [gpu_from_entry(e) for e in _load("gpus.toml", "gpus")]
    return Catalog({m.key: m for m in models}, {g.key: g for g in gpus})


def declared_catalog(
    base: Catalog, models: Iterable[Mapping[str, Any]], gpus: Iterable[Mapping[str, Any]]
) -> Catalog:
    """``base`` extended by ``[[models]]`` and ``[[gpu_types]]`` tables; ValueError names the entry."""
    specs: list[ModelSpec] = []
    for i, entry in enumerate(models):
        try:
            specs.append(spec_from_entry(entry))
        except ValueError as exc:
            raise ValueError(f"models.{i}: {exc}") from None
    gpu_specs: list[GpuSpec] = []
    for i, entry in enumerate(gpus):
        try:
            gpu_specs.append(gpu_from_entry(entry))
        except ValueError as exc:
            raise ValueError(f"gpu_types.{i}: {exc}") from None
    return base.extended(specs, gpu_specs)


SHIPPED = load_shipped()
