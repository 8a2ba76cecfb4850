"""The catalog as data: every shipped entry loads with its source, KV figures worked by hand from each
model's config.json values, config.json parsing (``text_config``, ``layer_types``), MIG fractions."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from attribution.catalog import GPUS, MODELS, LayerKind, get_gpu, get_model, mig_memory_fraction
from attribution.catalog.hfconfig import spec_from_entry
from attribution.config import load_settings
from attribution.errors import ConfigError, UnknownCatalogEntryError


def test_every_shipped_entry_loads_and_names_its_source() -> None:
    assert len(MODELS) >= 40
    for key, m in MODELS.items():
        assert m.key == key and m.source and m.hf_name
        assert m.kv_bytes_per_token() > 0
    for key, g in GPUS.items():
        assert g.key == key and g.source and g.dcgm_model_names and g.fb_total_mib > 10_000
    wanted = {"A10", "A10G", "A30", "A40", "L4", "L40", "L40S", "A100-PCIE-40GB", "A100-SXM-40GB"}
    wanted |= {"A100-PCIE-80GB", "A100-SXM-80GB", "H100-PCIe", "H100-SXM", "H100-NVL", "H20", "H200-SXM"}
    wanted |= {"B200", "B300", "GB200"}
    assert wanted <= set(GPUS)
    names = [n.lower() for g in GPUS.values() for n in g.dcgm_model_names]
    assert len(names) == len(set(names)), "one dcgm modelName, one GPU type"
    aliases = [a for m in MODELS.values() for a in m.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(MODELS)


def test_docs_list_every_shipped_entry() -> None:
    text = (Path(__file__).parent.parent / "docs" / "catalog.md").read_text()
    assert f"{len(MODELS)} models, {len(GPUS)} GPU types" in text
    for key in [*MODELS, *GPUS]:
        assert f"| `{key}`" in text, key


# --- KV bytes per token, by hand from config.json values ------------------------------------------------


def test_dense_gqa_qwen3_8b() -> None:
    # Qwen3-8B config.json: 36 layers, 8 KV heads, head_dim 128, bfloat16
    assert get_model("qwen3-8b").kv_bytes_per_token() == 2 * 36 * 8 * 128 * 2 == 147_456


def test_moe_qwen3_30b_a3b_experts_do_not_change_the_kv() -> None:
    # Qwen3-30B-A3B: 48 layers, 4 KV heads, head_dim 128; 128 experts are weights, not KV
    assert get_model("qwen3-30b-a3b").kv_bytes_per_token() == 2 * 48 * 4 * 128 * 2 == 98_304
    # Qwen3-235B-A22B: 94 layers, 4 KV heads
    assert get_model("qwen3-235b-a22b").kv_bytes_per_token() == 2 * 94 * 4 * 128 * 2 == 192_512


def test_mla_deepseek_r1_has_no_factor_two_and_vllm_fp8_layout() -> None:
    r1 = get_model("deepseek-r1")
    # (kv_lora_rank 512 + qk_rope_head_dim 64) x 61 layers x 2 B
    assert r1.kv_bytes_per_token() == (512 + 64) * 61 * 2 == 70_272
    # vLLM fp8_ds_mla: 512 FP8 + 4 float32 scales + 64 BF16 RoPE = 656 B a layer
    assert r1.kv_bytes_per_token_for("fp8_ds_mla") == (512 + 4 * 4 + 64 * 2) * 61 == 40_016
    assert r1.kv_bytes_per_token_for("fp8_ds_mla", tensor_parallel=8) == 40_016 * 8
    with pytest.raises(UnknownCatalogEntryError, match="MLA"):
        get_model("llama-3.1-8b").kv_bytes_per_token_for("fp8_ds_mla")


def test_sliding_window_gemma_3_27b_five_local_to_one_global() -> None:
    gemma = get_model("gemma-3-27b")
    # 62 layers, sliding_window_pattern 6: layers 5, 11, ..., 59 global (10), 52 local of window 1024
    assert gemma.kinds.count(LayerKind.FULL) == 10 and gemma.windowed_layers == 52
    per_layer = 2 * 16 * 128 * 2  # 16 KV heads, head_dim 128, bf16
    assert gemma.kv_bytes_per_token() == 62 * per_layer == 507_904
    # one 32k request: global layers hold 32,768 tokens, local ones 1,024
    assert gemma.kv_bytes_for_context(32_768) == per_layer * (10 * 32_768 + 52 * 1024)
    assert gemma.kv_bytes_for_context(512) == 62 * per_layer * 512


def test_alternating_sliding_gpt_oss_120b() -> None:
    oss = get_model("gpt-oss-120b")
    assert [k.value for k in oss.kinds[:2]] == ["sliding_attention", "full_attention"]
    per_layer = 2 * 8 * 64 * 2  # 8 KV heads, head_dim 64
    assert oss.kv_bytes_per_token() == 36 * per_layer == 73_728
    assert oss.kv_bytes_for_context(8192) == per_layer * (18 * 8192 + 18 * 128)


def test_hybrid_qwen3_next_linear_layers_hold_no_kv() -> None:
    # 48 layers, full_attention_interval 4: 12 full attention layers, 2 KV heads, head_dim 256
    nxt = get_model("qwen3-next-80b-a3b")
    assert nxt.kv_layers == 12
    assert nxt.kv_bytes_per_token() == 2 * 12 * 2 * 256 * 2 == 24_576


def test_fp8_kv_llama_3_3_70b() -> None:
    assert get_model("llama-3.3-70b").kv_bytes_per_token_for("fp8") == 2 * 80 * 8 * 128 * 1 == 163_840
    assert get_model("llama-3.3-70b").kv_bytes_per_token_for("fp8_e4m3", tensor_parallel=4) == 163_840


def test_hidden_size_over_heads_when_config_has_no_head_dim() -> None:
    # Phi-3-mini: hidden_size 3072 / 32 heads = 96, 32 KV heads (MHA), every layer windowed at 2047
    phi = get_model("phi-3-mini-4k")
    assert phi.head_dim == 96 and phi.window_tokens == 2047
    assert phi.kv_bytes_per_token() == 2 * 32 * 32 * 96 * 2
    # Phi-4-mini's sliding_window 262,144 is beyond its 131,072 positions: no windowed layer
    assert get_model("phi-4-mini").windowed_layers == 0


# --- config.json parsing --------------------------------------------------------------------------------

GEMMA_3_4B = {  # huggingface.co/google/gemma-3-4b-it config.json, vision part trimmed
    "architectures": ["Gemma3ForConditionalGeneration"],
    "model_type": "gemma3",
    "torch_dtype": "bfloat16",
    "text_config": {
        "head_dim": 256,
        "hidden_size": 2560,
        "model_type": "gemma3_text",
        "num_attention_heads": 8,
        "num_hidden_layers": 34,
        "num_key_value_heads": 4,
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
        "max_position_embeddings": 131072,
    },
    "vision_config": {"hidden_size": 1152, "num_hidden_layers": 27},
}
GPT_OSS_20B = {  # huggingface.co/openai/gpt-oss-20b config.json, attention fields
    "model_type": "gpt_oss",
    "head_dim": 64,
    "hidden_size": 2880,
    "num_attention_heads": 64,
    "num_hidden_layers": 24,
    "num_key_value_heads": 8,
    "sliding_window": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
}
QWEN3_NEXT = {  # huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct config.json ("dtype", no torch_dtype)
    "model_type": "qwen3_next",
    "dtype": "bfloat16",
    "full_attention_interval": 4,
    "head_dim": 256,
    "hidden_size": 2048,
    "num_attention_heads": 16,
    "num_hidden_layers": 48,
    "num_key_value_heads": 2,
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"] * 12,
    "use_sliding_window": False,
}
LLAMA_4_SCOUT = {  # huggingface.co/meta-llama/Llama-4-Scout-17B-16E config.json, text_config
    "model_type": "llama4",
    "text_config": {
        "attention_chunk_size": 8192,
        "head_dim": 128,
        "hidden_size": 5120,
        "num_attention_heads": 40,
        "num_hidden_layers": 48,
        "num_key_value_heads": 8,
        "torch_dtype": "bfloat16",
    },
}
QWEN2_5_7B = {  # huggingface.co/Qwen/Qwen2.5-7B-Instruct config.json: a window that is switched off
    "hidden_size": 3584,
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "sliding_window": 131072,
    "use_sliding_window": False,
    "max_window_layers": 28,
    "torch_dtype": "bfloat16",
}


def _from_file(tmp_path: Path, key: str, config: dict[str, Any]) -> Any:
    path = tmp_path / f"{key}.json"
    path.write_text(json.dumps(config))
    return spec_from_entry({"key": key, "config_json": str(path)})


@pytest.mark.parametrize(
    ("shipped", "config"),
    [
        ("gemma-3-4b", GEMMA_3_4B),
        ("gpt-oss-20b", GPT_OSS_20B),
        ("qwen3-next-80b-a3b", QWEN3_NEXT),
        ("llama-4-scout", LLAMA_4_SCOUT),
        ("qwen2.5-7b", QWEN2_5_7B),
    ],
)
def test_config_json_gives_the_shipped_architecture(
    tmp_path: Path, shipped: str, config: dict[str, Any]
) -> None:
    declared, catalog = _from_file(tmp_path, "mine", config), get_model(shipped)
    assert declared.kinds == catalog.kinds
    assert declared.window_tokens == catalog.window_tokens
    for tp in (1, 2, 16):
        assert declared.kv_bytes_per_token(None, tp) == catalog.kv_bytes_per_token(None, tp)
    assert declared.kv_bytes_for_context(20_000) == catalog.kv_bytes_for_context(20_000)


def test_a_bad_config_json_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read"):
        spec_from_entry({"key": "x", "config_json": str(tmp_path / "missing.json")})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match=r"not valid JSON"):
        spec_from_entry({"key": "x", "config_json": str(tmp_path / "bad.json")})
    with pytest.raises(ValueError, match=r"needs num_hidden_layers"):
        _from_file(tmp_path, "x", {"num_attention_heads": 8})
    with pytest.raises(ValueError, match=r"unknown field num_layer"):
        spec_from_entry({"key": "x", "num_layer": 3})


# --- unknown entries and declarations in attribution.toml -----------------------------------------------

POOL = {"name": "p", "served_model_name": "m", "gpu_selector": {"pod": "p-.*"}}


def test_unknown_model_says_how_to_declare_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(database_url="sqlite://", pools=[{**POOL, "model": "gemma-9-4b"}])
    assert "pools.0.model" in info.value.detail
    assert "unknown model 'gemma-9-4b'" in info.value.detail
    assert "[[models]]" in info.value.detail and "config_json" in info.value.detail
    assert "\n" not in info.value.detail


def test_unknown_gpu_says_how_to_declare_it() -> None:
    price = {"gpu_type": "RTX-9090", "usd_per_gpu_hour": "1"}
    with pytest.raises(ConfigError) as info:
        load_settings(database_url="sqlite://", gpu_prices=[price], inventory={"RTX-9090": 1})
    assert "unknown GPU type 'RTX-9090'" in info.value.detail and "[[gpu_types]]" in info.value.detail


def test_declared_gpu_type_and_model_extend_the_catalog() -> None:
    gpu = {"key": "RTX-PRO-6000", "dcgm_model_names": ["NVIDIA RTX PRO 6000 Blackwell Server Edition"]}
    gpu |= {"fb_total_mib": 97_887}
    model = {"key": "my-llama", "layers": 32, "attention_heads": 32, "kv_heads": 8, "head_dim": 128}
    settings = load_settings(
        database_url="sqlite://",
        gpu_types=[gpu],
        models=[model],
        gpu_prices=[{"gpu_type": "RTX-PRO-6000", "usd_per_gpu_hour": "1.2"}],
        inventory={"RTX-PRO-6000": 2},
        pools=[{**POOL, "model": "my-llama"}],
    )
    assert settings.catalog.match_gpu("NVIDIA RTX PRO 6000 Blackwell Server Edition") is not None
    assert settings.catalog.gpu("RTX-PRO-6000").memory_bytes == 97_887 * 2**20
    mine, llama = settings.catalog.model("my-llama"), get_model("llama-3.1-8b")
    assert mine.kv_bytes_per_token() == llama.kv_bytes_per_token()
    # an override of a shipped key wins in this settings' catalog, the shipped one is untouched
    over = load_settings(database_url="sqlite://", gpu_types=[{**gpu, "key": "H100-SXM"}])
    assert over.catalog.gpu("H100-SXM").fb_total_mib == 97_887
    assert get_gpu("H100-SXM").fb_total_mib == 81_559


def test_a_model_declared_in_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(GPT_OSS_20B))
    monkeypatch.setenv("ATTRIBUTION_MODELS", json.dumps([{"key": "oss", "config_json": str(path)}]))
    settings = load_settings(database_url="sqlite://", pools=[{**POOL, "model": "oss"}])
    assert settings.catalog.model("oss").kv_bytes_per_token() == get_model("gpt-oss-20b").kv_bytes_per_token()
    # a settings object without declarations sees only the shipped catalog
    monkeypatch.delenv("ATTRIBUTION_MODELS")
    with pytest.raises(ConfigError, match="unknown model 'oss'"):
        load_settings(database_url="sqlite://", pools=[{**POOL, "model": "oss"}])


# --- MIG ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "profile", "share"),
    [
        ("A100-SXM-80GB", "1g.10gb", Fraction(1, 8)),
        ("A100-SXM-80GB", "3g.40gb", Fraction(1, 2)),
        ("A100-SXM-80GB", "7g.80gb", Fraction(1)),
        ("A100-SXM-40GB", "1g.5gb", Fraction(1, 8)),
        ("H100-SXM", "1g.10gb+me", Fraction(1, 8)),
        ("H100-SXM", "2g.20gb", Fraction(1, 4)),
        ("H100-NVL", "3g.47gb", Fraction(1, 2)),
        ("H200-SXM", "1g.18gb", Fraction(1, 8)),
        ("A30", "2g.12gb", Fraction(1, 2)),
        ("B200", "3g.90gb", Fraction(1, 2)),
        ("GB200", "1g.23gb.me", Fraction(1, 8)),
    ],
)
def test_mig_memory_fraction(gpu: str, profile: str, share: Fraction) -> None:
    assert mig_memory_fraction(gpu, profile) == share


def test_mig_unknown_profile_or_gpu_without_mig_is_an_error() -> None:
    with pytest.raises(UnknownCatalogEntryError, match=r"no MIG profile '9g.99gb'.*\[\[gpu_types\]\]"):
        mig_memory_fraction("A100-SXM-80GB", "9g.99gb")
    with pytest.raises(UnknownCatalogEntryError, match="L40S"):
        mig_memory_fraction("L40S", "1g.10gb")
