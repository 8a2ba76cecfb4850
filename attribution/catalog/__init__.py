"""Static facts about models and GPUs that the memory-time model needs: computed, never quoted."""

from attribution.catalog.gpus import GPUS, GpuSpec, get_gpu, match_gpu
from attribution.catalog.models import MODELS, ModelSpec, get_model

__all__ = ["GPUS", "MODELS", "GpuSpec", "ModelSpec", "get_gpu", "get_model", "match_gpu"]
