"""A model declared in attribution.toml bills exactly as the same model from the catalog; a pool's memory
is dcgm's FB_USED + FB_FREE + FB_RESERVED where the exporter reports it, the catalog's total otherwise."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.catalog import get_gpu
from attribution.ledger.attribute import run_attribution
from attribution.store.tables import PoolCost
from tests.builders import T0, create_gpu_rows, create_kv_rows, small_cluster_settings, store
from tests.support.two_hours import MINUTES, consistent_usage_ratios, lines, usage_rows

# Mistral-Small-24B-Instruct-2501 config.json, attention fields
MISTRAL_SMALL = {
    "architectures": ["MistralForCausalLM"],
    "head_dim": 128,
    "hidden_size": 5120,
    "model_type": "mistral",
    "num_attention_heads": 32,
    "num_hidden_layers": 40,
    "num_key_value_heads": 8,
    "sliding_window": None,
    "torch_dtype": "bfloat16",
}
WINDOW = (T0, T0 + timedelta(minutes=MINUTES))


def _load(factory: sessionmaker[Session], gpu_rows: list[dict[str, Any]] | None = None) -> None:
    """The job test's telemetry, with no bytes-per-token from the engine: the catalog's figure is used."""
    usage = usage_rows()
    kv = create_kv_rows(MINUTES, consistent_usage_ratios(usage))
    for row in kv:
        row["kv_bytes_per_token"] = None
    store(factory, gpu_rows or create_gpu_rows(MINUTES), kv, usage)


def _pool(model: str) -> dict[str, Any]:
    return {
        "name": "small",
        "model": model,
        "served_model_name": "mistralai/Mistral-Small-24B-Instruct-2501",
        "tensor_parallel_size": 2,
        "gpu_selector": {"pod": "small-.*"},
    }


def _lines_with(factory: sessionmaker[Session], **settings: Any) -> list[tuple[Any, ...]]:
    run_attribution(small_cluster_settings(**settings), factory, *WINDOW)
    return lines(factory)


def test_declared_model_bills_as_the_catalog_model(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    _load(pg_tx)
    shipped = _lines_with(pg_tx)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(MISTRAL_SMALL))
    by_file = _lines_with(
        pg_tx, models=[{"key": "my-mistral", "config_json": str(config)}], pools=[_pool("my-mistral")]
    )
    fields = {"key": "my-mistral", "num_hidden_layers": 40, "num_attention_heads": 32}
    fields |= {"num_key_value_heads": 8, "head_dim": 128, "torch_dtype": "bfloat16"}
    by_fields = _lines_with(pg_tx, models=[fields], pools=[_pool("my-mistral")])
    assert len(shipped) > MINUTES // 60
    assert by_file == shipped
    assert by_fields == shipped
    # the comparison can fail: half the layers is half the KV bytes, and other lines
    half = {**fields, "num_hidden_layers": 20}
    halved = _lines_with(pg_tx, models=[half], pools=[_pool("my-mistral")])
    assert halved != shipped


def _pool_memory(factory: sessionmaker[Session]) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(PoolCost.memory_bytes).where(PoolCost.pool == "small")))


def test_pool_memory_is_dcgm_framebuffer_where_reported(pg_tx: sessionmaker[Session]) -> None:
    catalog_bytes = get_gpu("H100-SXM").memory_bytes
    rows = create_gpu_rows(MINUTES)  # used + free only: the catalog total is the memory
    _load(pg_tx, rows)
    run_attribution(small_cluster_settings(), pg_tx, *WINDOW)
    assert _pool_memory(pg_tx) == {2 * catalog_bytes}
    # with FB_RESERVED the exporter's total wins: 70 + 10 GiB + 512 MiB reserved, on both pool GPUs
    for row in rows:
        row["fb_reserved_bytes"] = 512 * 2**20
    _load(pg_tx, rows)
    run_attribution(small_cluster_settings(), pg_tx, *WINDOW)
    assert _pool_memory(pg_tx) == {2 * (80 * 2**30 + 512 * 2**20)}
    # one GPU reporting, one not: one exporter total plus one catalog total
    for row in rows:
        if row["gpu_uuid"] == "GPU-1":
            row["fb_reserved_bytes"] = None
    _load(pg_tx, rows)
    run_attribution(small_cluster_settings(), pg_tx, *WINDOW)
    assert _pool_memory(pg_tx) == {80 * 2**30 + 512 * 2**20 + catalog_bytes}
