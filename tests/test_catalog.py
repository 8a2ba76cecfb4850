"""Model and GPU catalogs: KV bytes per token, weights and framebuffer sizes, computed not quoted.

Expected figures are worked out by hand from reference/telemetry.md ("Model catalog figures") and
reference/telemetry-sources.md (nvidia-smi framebuffer totals, vLLM KV-head replication).
"""

from __future__ import annotations

import pytest

from attribution.catalog import GPUS, MODELS, get_gpu, get_model, match_gpu
from attribution.catalog.models import kv_dtype_bytes
from attribution.errors import ConfigError, UnknownCatalogEntryError

KIB = 1024
GIB = 1024**3
TOKENS_128K = 131_072

# 2 (K and V) x layers x KV heads x head dim x 2 B (BF16); MLA: (512 + 64) x layers x 2 B
KV_BYTES_BF16 = {
    "llama-3.1-8b": 131_072,  # 2 x 32 x 8 x 128 x 2 = 128 KiB
    "mistral-7b": 131_072,  # 2 x 32 x 8 x 128 x 2
    "mistral-small-24b": 163_840,  # 2 x 40 x 8 x 128 x 2 = 160 KiB
    "mixtral-8x7b": 131_072,  # experts do not change the KV cache
    "llama-3.1-70b": 327_680,  # 2 x 80 x 8 x 128 x 2 = 320 KiB
    "qwen2.5-72b": 327_680,  # 2 x 80 x 8 x 128 x 2
    "llama-3.1-405b": 516_096,  # 2 x 126 x 8 x 128 x 2 = 504 KiB
    "deepseek-v3": 70_272,  # 576 x 61 x 2
}


def test_the_first_catalog_models_keep_their_keys_and_figures() -> None:
    # the simulator and existing configs name these keys; tests/test_catalog_data.py covers the rest
    assert set(KV_BYTES_BF16) <= set(MODELS)


@pytest.mark.parametrize(("key", "expected"), sorted(KV_BYTES_BF16.items()))
def test_kv_bytes_per_token_in_bf16(key: str, expected: int) -> None:
    model = get_model(key)
    assert model.kv_bytes_per_token() == expected
    assert model.kv_bytes_per_token(kv_dtype_bytes=2, tensor_parallel=1) == expected


@pytest.mark.parametrize(("key", "expected"), sorted(KV_BYTES_BF16.items()))
def test_fp8_kv_cache_halves_the_bytes(key: str, expected: int) -> None:
    assert get_model(key).kv_bytes_per_token(kv_dtype_bytes=1) * 2 == expected


def test_kv_per_128k_request() -> None:
    assert get_model("llama-3.1-8b").kv_bytes_per_token() * TOKENS_128K == 16 * GIB
    assert get_model("llama-3.1-70b").kv_bytes_per_token() * TOKENS_128K == 40 * GIB
    assert get_model("mistral-small-24b").kv_bytes_per_token() * TOKENS_128K == 20 * GIB
    # the 405B model uses grouped-query attention (8 KV heads): 504 KiB a token, 63 GiB for 128k,
    # not the "400-500 GB" that full multi-head attention would take
    per_token = get_model("llama-3.1-405b").kv_bytes_per_token()
    assert per_token == 504 * KIB
    assert per_token * TOKENS_128K == 63 * GIB
    # DeepSeek-V3's MLA latent: 70,272 B a token, about 8.58 GiB for 128k
    mla = get_model("deepseek-v3").kv_bytes_per_token() * TOKENS_128K
    assert mla == 9_210_691_584
    assert 8.57 * GIB < mla < 8.59 * GIB


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_up_to_the_kv_head_count_only_shards(tp: int) -> None:
    # 8 KV heads over up to 8 GPUs: each GPU holds 8 / tp heads, the engine still 8
    assert get_model("llama-3.1-405b").kv_bytes_per_token(tensor_parallel=tp) == 516_096
    assert get_model("llama-3.1-70b").kv_bytes_per_token(tensor_parallel=tp) == 327_680


def test_tensor_parallel_beyond_the_kv_head_count_replicates_heads() -> None:
    # TP 16 over 8 KV heads: one head per GPU, 16 stored in the engine (each head twice)
    llama_405b = get_model("llama-3.1-405b")
    assert llama_405b.kv_bytes_per_token(tensor_parallel=16) == 2 * 126 * 16 * 128 * 2
    assert llama_405b.kv_bytes_per_token(tensor_parallel=16) == 1_032_192
    assert llama_405b.kv_bytes_per_token(tensor_parallel=16) * TOKENS_128K == 126 * GIB
    assert get_model("llama-3.1-70b").kv_bytes_per_token(tensor_parallel=32) == 1_310_720
    assert get_model("llama-3.1-8b").kv_bytes_per_token(kv_dtype_bytes=1, tensor_parallel=16) == (
        2 * 32 * 16 * 128
    )


def test_mla_latent_is_replicated_on_every_tensor_parallel_rank() -> None:
    deepseek = get_model("deepseek-v3")
    assert deepseek.kv_bytes_per_token(tensor_parallel=8) == 562_176  # 70,272 x 8
    assert deepseek.kv_bytes_per_token(kv_dtype_bytes=1, tensor_parallel=8) == 281_088
    assert deepseek.kv_bytes_per_token(tensor_parallel=16) == 1_124_352


@pytest.mark.parametrize(("dtype_bytes", "tp"), [(0, 1), (-1, 1), (2, 0), (2, -8)])
def test_non_positive_dtype_or_tensor_parallel_raises(dtype_bytes: int, tp: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        get_model("llama-3.1-8b").kv_bytes_per_token(kv_dtype_bytes=dtype_bytes, tensor_parallel=tp)


def test_kv_dtype_bytes_by_vllm_cache_dtype_label() -> None:
    assert kv_dtype_bytes("auto") == 2
    assert kv_dtype_bytes("auto", model_dtype_bytes=1) == 1
    assert kv_dtype_bytes("bfloat16") == 2
    assert kv_dtype_bytes("float16") == 2
    for label in ("fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"):
        assert kv_dtype_bytes(label) == 1
    with pytest.raises(UnknownCatalogEntryError, match="int4"):
        kv_dtype_bytes("int4")


def test_weights_bytes() -> None:
    assert get_model("llama-3.1-8b").weights_bytes() == 16_060_000_000  # 8.03 B x 2 B
    assert get_model("llama-3.1-8b").weights_bytes(1) == 8_030_000_000
    assert get_model("llama-3.1-70b").weights_bytes() == 141_100_000_000  # 70.55 B x 2 B
    assert get_model("llama-3.1-405b").weights_bytes() == 811_700_000_000  # 405.85 B x 2 B
    assert get_model("deepseek-v3").weights_bytes(1) == 671_000_000_000  # FP8 weights


def test_model_architectures_match_their_published_configs() -> None:
    shapes = {k: (m.layers, m.attention_heads, m.kv_heads, m.head_dim) for k, m in MODELS.items()}
    assert shapes["llama-3.1-8b"] == (32, 32, 8, 128)
    assert shapes["llama-3.1-70b"] == (80, 64, 8, 128)
    assert shapes["llama-3.1-405b"] == (126, 128, 8, 128)
    assert shapes["mistral-small-24b"] == (40, 32, 8, 128)
    assert get_model("deepseek-v3").layers == 61
    assert get_model("deepseek-v3").mla_latent_dim == 576
    mla = {k for k, m in MODELS.items() if m.mla_latent_dim is not None}
    assert mla == {"deepseek-v3", "deepseek-r1", "deepseek-v2-lite", "kimi-k2"}
    assert get_model("llama-3.1-8b").hf_name == "meta-llama/Llama-3.1-8B-Instruct"
    assert len({m.hf_name for m in MODELS.values()}) == len(MODELS)


# --- GPUs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "mib", "expected"),
    [
        ("H100-SXM", 81_559, 85_520_809_984),  # 81,559 x 1,048,576
        ("H200-SXM", 143_771, 150_754_820_096),  # 143,771 x 1,048,576
        ("A100-SXM-80GB", 81_920, 80 * GIB),
        ("B200", 183_359, 192_265_846_784),
    ],
)
def test_gpu_memory_is_the_framebuffer_total_in_bytes(key: str, mib: int, expected: int) -> None:
    gpu = get_gpu(key)
    assert gpu.fb_total_mib == mib
    assert gpu.memory_bytes == expected


def test_unknown_keys_raise_a_catalog_error() -> None:
    with pytest.raises(UnknownCatalogEntryError, match="llama-9"):
        get_model("llama-9")
    with pytest.raises(UnknownCatalogEntryError, match="T4"):
        get_gpu("T4")
    with pytest.raises(UnknownCatalogEntryError) as info:
        get_model("Llama-3.1-8B")  # keys are exact: the HF name or another case is not a key
    assert isinstance(info.value, ConfigError)
    assert info.value.code == "unknown_catalog_entry"
    # the message suggests the near key and says how to declare a model, to fix a config quickly
    assert "did you mean 'llama-3.1-8b'" in info.value.detail
    assert "[[models]]" in info.value.detail


@pytest.mark.parametrize(
    ("model_name", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),
        ("NVIDIA H200", "H200-SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100-SXM-80GB"),
        ("NVIDIA B200", "B200"),
        ("  nvidia h100 80gb hbm3 ", "H100-SXM"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("NVIDIA A100-SXM4-40GB", "A100-SXM-40GB"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA B300 SXM6 AC", "B300"),
    ],
)
def test_match_gpu_on_dcgm_model_names(model_name: str, key: str) -> None:
    spec = match_gpu(model_name)
    assert spec is not None
    assert spec.key == key


@pytest.mark.parametrize(
    "model_name", ["NVIDIA H100", "NVIDIA H100 80GB", "Tesla T4", "", "H200", "NVIDIA L40S 48GB"]
)
def test_match_gpu_does_not_guess(model_name: str) -> None:
    assert match_gpu(model_name) is None


def test_every_gpu_is_found_by_its_own_dcgm_name() -> None:
    for key, spec in GPUS.items():
        for name in spec.dcgm_model_names:
            found = match_gpu(name)
            assert found is not None
            assert found.key == key
