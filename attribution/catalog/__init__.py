"""Static facts about models and GPUs that the memory-time model needs: computed, never quoted.

The shipped catalog is data (``models.toml``, ``gpus.toml``); ``Settings.catalog`` is it extended by what
``attribution.toml`` declares. The module functions below read the shipped catalog only.
"""

from fractions import Fraction

from attribution.catalog.gpus import GpuSpec, MigGeometry
from attribution.catalog.models import LayerKind, ModelSpec, kv_dtype_bytes
from attribution.catalog.registry import SHIPPED, Catalog, declared_catalog

MODELS = SHIPPED.models
GPUS = SHIPPED.gpus


def get_model(key: str) -> ModelSpec:
    return SHIPPED.model(key)


def get_gpu(key: str) -> GpuSpec:
    return SHIPPED.gpu(key)


def match_gpu(dcgm_model_name: str) -> GpuSpec | None:
    return SHIPPED.match_gpu(dcgm_model_name)


def mig_memory_fraction(gpu_type: str, profile: str, catalog: Catalog = SHIPPED) -> Fraction:
    """The share of a ``gpu_type`` GPU one MIG instance of ``profile`` owns: its memory slices over the
    GPU's memory slices, as an exact Fraction (A100-SXM-80GB, ``3g.40gb``: 4/8)."""
    return catalog.mig_memory_fraction(gpu_type, profile)


__all__ = [
    "GPUS",
    "MODELS",
    "SHIPPED",
    "Catalog",
    "GpuSpec",
    "LayerKind",
    "MigGeometry",
    "ModelSpec",
    "declared_catalog",
    "get_gpu",
    "get_model",
    "kv_dtype_bytes",
    "match_gpu",
    "mig_memory_fraction",
]
