"""A statement line's cluster: in its content hash when it is not the default one, so another cluster's
line is another line; the default cluster's lines hash as they did before there were clusters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from attribution.model.statement import Line, content_hash
from attribution.model.vocabulary import DEFAULT_CLUSTER


def _line() -> Line:
    fields: dict[str, Any] = {
        **dict.fromkeys(("charge_class", "charge_period", "pool", "tenant", "tier"), "x"),
        **dict.fromkeys(("kv_in_use_usd_micros", "static_usd_micros", "unmeasured_usd_micros"), 0),
        **dict.fromkeys(("requests", "prompt_tokens", "generation_tokens", "total_cents"), 0),
        **dict.fromkeys(("idle_cold_usd_micros", "idle_warm_usd_micros", "kv_headroom_usd_micros"), 0),
        "kv_token_seconds": 0.0,
        "kv_byte_seconds": 0.0,
        "idle_usd_micros": 0,
        "total_usd_micros": 5,
    }
    return Line(**fields)


def test_only_a_named_cluster_enters_the_hash() -> None:
    line = _line()
    assert line.cluster == DEFAULT_CLUSTER
    east, west = replace(line, cluster="east"), replace(line, cluster="west")
    hashes = {content_hash("2026-11", [x]) for x in (line, east, west)}
    assert len(hashes) == 3
    assert content_hash("2026-11", [east, west]) == content_hash("2026-11", [west, east])  # order-free
