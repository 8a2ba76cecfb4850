"""Model architectures and the KV-cache bytes each token pins (docs/catalog.md).

KV bytes are computed from the architecture, never quoted. Per layer that holds KV and per token:
2 (K and V) x KV heads x head dim x bytes per element for grouped-query attention; one latent of
kv_lora_rank + qk_rope_head_dim elements for multi-head latent attention (MLA: DeepSeek-V2/V3, Kimi K2),
with no factor 2. Linear-attention and Mamba layers hold a fixed state per sequence, no KV.

The per-token figure counts every layer that holds KV, sliding-window and chunked layers included: it is
the bytes of a token while a request is within the window, and the ratio of vLLM's KV pool to its
``kv_cache_size_tokens`` (vLLM splits the pool evenly over its KV-cache groups, whatever their window).
:meth:`ModelSpec.kv_bytes_for_context` gives one request's exact bytes, windows capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from attribution.errors import UnknownCatalogEntryError

#: Bytes per KV element by vLLM ``cache_dtype`` label value. ``auto`` means the model dtype;
#: ``fp8_ds_mla`` is vLLM's FlashMLA FP8 layout, sized by :meth:`ModelSpec.kv_bytes_per_token_for`.
KV_DTYPE_BYTES: dict[str, int] = {
    "auto": 2,
    "bfloat16": 2,
    "float16": 2,
    "half": 2,
    "float32": 4,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
    "fp8_inc": 1,
    "fp8_ds_mla": 1,
}

#: Bytes per element of a model's ``torch_dtype`` (the ``auto`` KV dtype).
MODEL_DTYPE_BYTES: dict[str, int] = {"bfloat16": 2, "float16": 2, "float32": 4}

FP8_DS_MLA = "fp8_ds_mla"


class LayerKind(StrEnum):
    """What one decoder layer keeps per token: all of them, the last ``window_tokens``, or nothing."""

    FULL = "full_attention"
    SLIDING = "sliding_attention"
    CHUNKED = "chunked_attention"
    NO_KV = "no_kv"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model architecture, as computed from its config.json fields.

    ``layer_kinds`` is empty when every layer is full attention. ``window_tokens`` is the sliding window
    (or Llama 4's attention chunk) of the windowed layers. ``params`` (total parameters) is only known for
    the models the simulator runs.
    """

    key: str
    hf_name: str
    source: str
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    dtype: str = "bfloat16"
    params: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    window_tokens: int | None = None
    layer_kinds: tuple[LayerKind, ...] = ()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"model {self.key!r}"
        if min(self.layers, self.attention_heads, self.kv_heads, self.head_dim) < 1:
            raise ValueError(f"{where}: layers, heads, KV heads and head dim must be positive")
        if self.dtype not in MODEL_DTYPE_BYTES:
            raise ValueError(f"{where}: dtype {self.dtype!r} is not one of {', '.join(MODEL_DTYPE_BYTES)}")
        if (self.kv_lora_rank is None) != (self.qk_rope_head_dim is None):
            raise ValueError(f"{where}: MLA needs both kv_lora_rank and qk_rope_head_dim")
        if self.layer_kinds and len(self.layer_kinds) != self.layers:
            raise ValueError(f"{where}: {len(self.layer_kinds)} layer types for {self.layers} layers")
        windowed = any(k in (LayerKind.SLIDING, LayerKind.CHUNKED) for k in self.layer_kinds)
        if windowed and not (self.window_tokens and self.window_tokens > 0):
            raise ValueError(f"{where}: sliding or chunked layers need a positive window")
        if self.layer_kinds and self.kv_layers == 0:
            raise ValueError(f"{where}: no layer holds KV")

    @property
    def mla_latent_dim(self) -> int | None:
        """kv_lora_rank + qk_rope_head_dim for MLA models, None for grouped-query attention."""
        if self.kv_lora_rank is None or self.qk_rope_head_dim is None:
            return None
        return self.kv_lora_rank + self.qk_rope_head_dim

    @property
    def kinds(self) -> tuple[LayerKind, ...]:
        return self.layer_kinds or (LayerKind.FULL,) * self.layers

    @property
    def kv_layers(self) -> int:
        """Layers holding KV: full, sliding and chunked attention (not linear attention or Mamba)."""
        return sum(1 for k in self.kinds if k is not LayerKind.NO_KV)

    @property
    def windowed_layers(self) -> int:
        return sum(1 for k in self.kinds if k in (LayerKind.SLIDING, LayerKind.CHUNKED))

    @property
    def model_dtype_bytes(self) -> int:
        return MODEL_DTYPE_BYTES[self.dtype]

    def layer_bytes_per_token(self, kv_dtype_bytes: int | None = None, tensor_parallel: int = 1) -> int:
        """KV bytes one token pins in one KV layer across an engine of ``tensor_parallel`` GPUs.

        With tensor parallelism wider than the KV-head count, vLLM replicates heads (each rank keeps
        max(1, kv_heads // tp) heads); MLA keeps one latent per rank. Replicas pin real memory, so they count.
        """
        element = self.model_dtype_bytes if kv_dtype_bytes is None else kv_dtype_bytes
        if element <= 0 or tensor_parallel <= 0:
            raise ValueError("kv_dtype_bytes and tensor_parallel must be positive")
        if self.mla_latent_dim is not None:
            return self.mla_latent_dim * element * tensor_parallel
        heads_per_rank = max(1, self.kv_heads // tensor_parallel)
        stored_heads = max(self.kv_heads, heads_per_rank * tensor_parallel)
        return 2 * stored_heads * self.head_dim * element

    def kv_bytes_per_token(self, kv_dtype_bytes: int | None = None, tensor_parallel: int = 1) -> int:
        """KV bytes per token over every KV layer (windowed ones included, see the module docstring);
        ``kv_dtype_bytes`` None means the model's dtype."""
        return self.kv_layers * self.layer_bytes_per_token(kv_dtype_bytes, tensor_parallel)

    def kv_bytes_per_token_for(self, cache_dtype: str, tensor_parallel: int = 1) -> int:
        """:meth:`kv_bytes_per_token` for a vLLM ``cache_dtype`` label value.

        ``fp8_ds_mla`` (DeepSeek MLA in FP8, vLLM's FlashMLA layout) stores per layer the latent in FP8,
        one float32 scale per 128 latent elements and the RoPE part in BF16: 512 + 16 + 128 = 656 bytes for
        DeepSeek-V3, not 576.
        """
        if cache_dtype != FP8_DS_MLA:
            element = kv_dtype_bytes(cache_dtype, self.model_dtype_bytes)
            return self.kv_bytes_per_token(element, tensor_parallel)
        if self.kv_lora_rank is None or self.qk_rope_head_dim is None:
            raise UnknownCatalogEntryError(f"KV cache dtype {FP8_DS_MLA!r} needs an MLA model: {self.key!r}")
        if tensor_parallel <= 0:
            raise ValueError("kv_dtype_bytes and tensor_parallel must be positive")
        per_layer = self.kv_lora_rank + 4 * -(-self.kv_lora_rank // 128) + 2 * self.qk_rope_head_dim
        return self.kv_layers * per_layer * tensor_parallel

    def kv_bytes_for_context(
        self, tokens: int, kv_dtype_bytes: int | None = None, tensor_parallel: int = 1
    ) -> int:
        """KV bytes one request of ``tokens`` tokens pins: full layers hold every token, sliding and
        chunked layers at most ``window_tokens``."""
        per_layer = self.layer_bytes_per_token(kv_dtype_bytes, tensor_parallel)
        full = self.kv_layers - self.windowed_layers
        windowed = min(tokens, self.window_tokens or tokens)
        return per_layer * (full * tokens + self.windowed_layers * windowed)

    def weights_bytes(self, weight_dtype_bytes: int = 2) -> int:
        """Bytes of the weights at ``weight_dtype_bytes`` per parameter (2 for BF16, 1 for FP8)."""
        if self.params is None:
            raise UnknownCatalogEntryError(f"model {self.key!r}: the catalog has no parameter count")
        return self.params * weight_dtype_bytes


def kv_dtype_bytes(cache_dtype: str, model_dtype_bytes: int = 2) -> int:
    """Bytes per KV element for a vLLM ``cache_dtype`` label (``auto`` follows the model dtype)."""
    if cache_dtype == "auto":
        return model_dtype_bytes
    try:
        return KV_DTYPE_BYTES[cache_dtype]
    except KeyError:
        raise UnknownCatalogEntryError(
            f"unknown KV cache dtype {cache_dtype!r}; known: {', '.join(KV_DTYPE_BYTES)}"
        ) from None


def spec_by_key(models: Mapping[str, ModelSpec], key: str) -> ModelSpec | None:
    """The model under ``key`` or one of its aliases (exact match)."""
    found = models.get(key)
    if found is not None:
        return found
    return next((m for m in models.values() if key in m.aliases), None)
