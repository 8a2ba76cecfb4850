"""Model architectures and the KV-cache bytes each token pins.

Figures come from each model's published config (see docs/catalog.md). KV bytes are computed from the
architecture, never quoted: 2 (K and V) x layers x KV heads x head dim x bytes per element for grouped-query
attention; for MLA (DeepSeek-V2/V3) one latent of (kv_lora_rank + qk_rope_head_dim) per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.errors import UnknownCatalogEntryError

#: Bytes per element of the KV cache by vLLM ``cache_dtype`` label value. ``auto`` means the model dtype.
KV_DTYPE_BYTES: dict[str, int] = {
    "auto": 2,
    "bfloat16": 2,
    "float16": 2,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
    "fp8_inc": 1,
}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model architecture.

    ``mla_latent_dim`` is kv_lora_rank + qk_rope_head_dim for multi-head latent attention models; it is
    None for ordinary (grouped-query) attention.
    """

    key: str
    hf_name: str
    params: int
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    mla_latent_dim: int | None = None

    def kv_bytes_per_token(self, kv_dtype_bytes: int = 2, tensor_parallel: int = 1) -> int:
        """KV bytes one token pins across a whole engine of ``tensor_parallel`` GPUs.

        With tensor parallelism wider than the KV-head count, vLLM replicates heads (each rank keeps
        max(1, kv_heads // tp) heads); MLA keeps one latent per rank. Replicas pin real memory, so they count.
        """
        if kv_dtype_bytes <= 0 or tensor_parallel <= 0:
            raise ValueError("kv_dtype_bytes and tensor_parallel must be positive")
        if self.mla_latent_dim is not None:
            return self.mla_latent_dim * self.layers * kv_dtype_bytes * tensor_parallel
        heads_per_rank = max(1, self.kv_heads // tensor_parallel)
        stored_heads = max(self.kv_heads, heads_per_rank * tensor_parallel)
        return 2 * self.layers * stored_heads * self.head_dim * kv_dtype_bytes

    def weights_bytes(self, weight_dtype_bytes: int = 2) -> int:
        """Bytes of the weights at ``weight_dtype_bytes`` per parameter (2 for BF16, 1 for FP8)."""
        return self.params * weight_dtype_bytes


MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", 8_030_000_000, 32, 32, 8, 128),
        ModelSpec("mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3", 7_250_000_000, 32, 32, 8, 128),
        ModelSpec(
            "mistral-small-24b",
            "mistralai/Mistral-Small-24B-Instruct-2501",
            23_570_000_000,
            40,
            32,
            8,
            128,
        ),
        ModelSpec("mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1", 46_700_000_000, 32, 32, 8, 128),
        ModelSpec("llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct", 70_550_000_000, 80, 64, 8, 128),
        ModelSpec("qwen2.5-72b", "Qwen/Qwen2.5-72B-Instruct", 72_710_000_000, 80, 64, 8, 128),
        ModelSpec(
            "llama-3.1-405b",
            "meta-llama/Llama-3.1-405B-Instruct",
            405_850_000_000,
            126,
            128,
            8,
            128,
        ),
        ModelSpec(
            "deepseek-v3",
            "deepseek-ai/DeepSeek-V3",
            671_000_000_000,
            61,
            128,
            128,
            128,
            mla_latent_dim=512 + 64,
        ),
    )
}


def get_model(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise UnknownCatalogEntryError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}") from None


def kv_dtype_bytes(cache_dtype: str, model_dtype_bytes: int = 2) -> int:
    """Bytes per KV element for a vLLM ``cache_dtype`` label (``auto`` follows the model dtype)."""
    if cache_dtype == "auto":
        return model_dtype_bytes
    try:
        return KV_DTYPE_BYTES[cache_dtype]
    except KeyError:
        raise UnknownCatalogEntryError(f"unknown KV cache dtype {cache_dtype!r}") from None
