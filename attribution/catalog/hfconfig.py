"""Model specs from Hugging Face ``config.json`` fields: the shipped catalog, ``[[models]]`` entries and
``config_json`` files all go through :func:`spec_from_entry`, so a model declared either way is the same
spec as the one shipped (docs/catalog.md lists the fields and the layer-layout rules).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attribution.catalog.models import LayerKind, ModelSpec

#: Keys of a catalog entry that are not config.json fields.
META_KEYS = frozenset({"key", "hf_name", "source", "aliases", "params", "config_json"})
#: Short names an operator may use in ``[[models]]`` for the config.json fields.
SHORT_NAMES = {
    "layers": "num_hidden_layers",
    "attention_heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "dtype": "torch_dtype",
}
#: The config.json fields the spec is computed from; a TOML entry with any other key is refused.
CONFIG_FIELDS = frozenset(
    {
        "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_size",
        "torch_dtype", "kv_lora_rank", "qk_rope_head_dim", "sliding_window", "sliding_window_pattern",
        "use_sliding_window", "max_window_layers", "max_position_embeddings", "layer_types",
        "full_attention_interval", "attention_chunk_size", "no_rope_layers", "no_rope_layer_interval",
        "attn_layer_period", "attn_layer_offset", "hybrid_override_pattern", "model_type",
    }
)  # fmt: skip
_KIND_NAMES = {
    "full_attention": LayerKind.FULL,
    "attention": LayerKind.FULL,
    "global": LayerKind.FULL,
    "sliding_attention": LayerKind.SLIDING,
    "local": LayerKind.SLIDING,
    "chunked_attention": LayerKind.CHUNKED,
    "linear_attention": LayerKind.NO_KV,
    "mamba": LayerKind.NO_KV,
    "mamba2": LayerKind.NO_KV,
}
#: Nemotron-H's ``hybrid_override_pattern``: ``*`` attention, ``M`` Mamba, ``-`` MLP only.
_PATTERN_KINDS = {"*": LayerKind.FULL, "M": LayerKind.NO_KV, "-": LayerKind.NO_KV, "E": LayerKind.NO_KV}


def read_config_json(path: str) -> dict[str, Any]:
    """A Hugging Face config.json as a dict; ValueError with a one-line reason when it cannot be read."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"config_json {path!r}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"config_json {path!r}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config_json {path!r}: not a JSON object")
    return data


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The text model's fields: ``text_config`` (Gemma 3, Llama 4, Mistral 3) over the top level."""
    text = config.get("text_config")
    merged = {k: v for k, v in config.items() if k != "text_config"}
    if isinstance(text, Mapping):
        merged.update(text)
    if merged.get("torch_dtype") is None and merged.get("dtype") is not None:
        merged["torch_dtype"] = merged["dtype"]
    return merged


def spec_from_entry(entry: Mapping[str, Any], *, strict: bool = True) -> ModelSpec:
    """A spec from a catalog entry: meta keys plus config.json fields (or a ``config_json`` path).

    ``strict`` refuses keys that are neither (a typo in a TOML entry); a config.json file is read loosely.
    """
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("needs key = '<name pools use>'")
    fields: dict[str, Any] = {}
    if entry.get("config_json") is not None:
        fields.update(flatten_config(read_config_json(str(entry["config_json"]))))
    own = {SHORT_NAMES.get(k, k): v for k, v in entry.items() if k not in META_KEYS}
    if strict and (unknown := sorted(set(own) - CONFIG_FIELDS)):
        raise ValueError(f"model {key!r}: unknown field {', '.join(unknown)} (see docs/catalog.md)")
    fields.update(own)
    return _spec(key, entry, fields)


def _spec(key: str, entry: Mapping[str, Any], f: Mapping[str, Any]) -> ModelSpec:
    where = f"model {key!r}"
    layers = _int(f, "num_hidden_layers", where)
    heads = _int(f, "num_attention_heads", where)
    kv_heads = _opt_int(f, "num_key_value_heads", where) or heads
    head_dim = _opt_int(f, "head_dim", where)
    if head_dim is None:
        head_dim = _int(f, "hidden_size", where, "or head_dim") // heads
    kinds, window = layer_layout(f, layers, where)
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"{where}: aliases must be a list of names")
    return ModelSpec(
        key=key,
        hf_name=str(entry.get("hf_name") or f.get("_name_or_path") or key),
        source=str(entry.get("source") or entry.get("config_json") or "declared in attribution.toml"),
        layers=layers,
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        dtype=str(f.get("torch_dtype") or "bfloat16"),
        params=_opt_int(entry, "params", where),
        kv_lora_rank=_opt_int(f, "kv_lora_rank", where),
        qk_rope_head_dim=_opt_int(f, "qk_rope_head_dim", where) if f.get("kv_lora_rank") else None,
        window_tokens=window,
        layer_kinds=kinds,
        aliases=tuple(aliases),
    )


def layer_layout(f: Mapping[str, Any], layers: int, where: str) -> tuple[tuple[LayerKind, ...], int | None]:
    """Per-layer kinds (empty: all full attention) and the window of the windowed ones."""
    window = _opt_int(f, "sliding_window", where)
    if window is not None and (f.get("use_sliding_window") is False or _beyond_positions(f, window)):
        window = None
    if f.get("layer_types"):
        names = f["layer_types"]
        if not isinstance(names, list) or any(str(n) not in _KIND_NAMES for n in names):
            raise ValueError(f"{where}: layer_types must list {', '.join(_KIND_NAMES)}")
        kinds = tuple(_KIND_NAMES[str(n)] for n in names)
        chunk = _opt_int(f, "attention_chunk_size", where)
        return kinds, chunk if LayerKind.CHUNKED in kinds else window
    if isinstance(pattern := f.get("hybrid_override_pattern"), str) and pattern:
        if any(c not in _PATTERN_KINDS for c in pattern):
            raise ValueError(f"{where}: hybrid_override_pattern may hold only {''.join(_PATTERN_KINDS)}")
        return tuple(_PATTERN_KINDS[c] for c in pattern), None
    if interval := _opt_int(f, "full_attention_interval", where):
        return _every(layers, interval, LayerKind.NO_KV), None
    if period := _opt_int(f, "attn_layer_period", where):
        offset = _opt_int(f, "attn_layer_offset", where) or 0
        kinds = tuple(LayerKind.FULL if i % period == offset else LayerKind.NO_KV for i in range(layers))
        return kinds, None
    if chunk := _opt_int(f, "attention_chunk_size", where):
        return _llama4_layout(f, layers, where), chunk
    if window is None:
        return (), None
    gemma2 = 2 if f.get("model_type") == "gemma2" else 0  # Gemma 2 alternates, its config says nothing
    if pattern_n := _opt_int(f, "sliding_window_pattern", where) or gemma2:
        return _every(layers, pattern_n, LayerKind.SLIDING), window
    if (first := _opt_int(f, "max_window_layers", where)) is not None and first < layers:
        return tuple(LayerKind.SLIDING if i >= first else LayerKind.FULL for i in range(layers)), window
    return (LayerKind.SLIDING,) * layers, window


def _llama4_layout(f: Mapping[str, Any], layers: int, where: str) -> tuple[LayerKind, ...]:
    """Llama 4: RoPE layers use chunked local attention, NoPE layers (every 4th by default) are global."""
    flags = f.get("no_rope_layers")
    if isinstance(flags, list) and len(flags) == layers:
        return tuple(LayerKind.CHUNKED if flag else LayerKind.FULL for flag in flags)
    return _every(layers, _opt_int(f, "no_rope_layer_interval", where) or 4, LayerKind.CHUNKED)


def _every(layers: int, n: int, other: LayerKind) -> tuple[LayerKind, ...]:
    """Layer i is full attention iff (i + 1) % n == 0, else ``other``."""
    return tuple(LayerKind.FULL if (i + 1) % n == 0 else other for i in range(layers))


def _beyond_positions(f: Mapping[str, Any], window: int) -> bool:
    positions = f.get("max_position_embeddings")
    return isinstance(positions, int) and window >= positions


def _opt_int(f: Mapping[str, Any], name: str, where: str) -> int | None:
    value = f.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {name} must be an integer, got {value!r}")
    return value


def _int(f: Mapping[str, Any], name: str, where: str, alternative: str = "") -> int:
    value = _opt_int(f, name, where)
    if value is None:
        hint = f" ({alternative})" if alternative else ""
        raise ValueError(f"{where}: needs {name}{hint}, e.g. from the model's config.json")
    return value
