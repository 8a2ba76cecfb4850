"""Pools indexed by their patterns' literal prefixes (``GpuSelectors``) find what trying every pool in
turn found (tests/support/pool_oracle.py), the same pool or the same error, on selectors and labels
hypothesis draws: literal prefixes, quantifiers right after them, alternatives, classes, escapes and
inline flags, on one or two labels."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.labels import GpuSelectors, literal_prefix
from attribution.config import PoolConfig
from attribution.errors import ConfigError
from tests.support.pool_oracle import pool_for_every_pool

PATTERNS = [
    "llama-[0-9]+", "llama-8b-.*", "llama-8b-batch-.*", "llama", "ll?ama.*", "llam+a-0", "lla{2}ma",
    "l{1,2}ama.*", "a|llama-0", "llama-0|x", "(?i)LLAMA-.*", "[l]lama-0", r"\w+-0", r"llama-\d", ".*",
    "llama-(0|1)", "llama-0$", "^llama-0", "x", "", "llama-0-", "lla.a-0",
]  # fmt: skip
VALUES = ["llama-0", "llama-1", "llama-8b-0", "llama-8b-batch-0", "lama-0", "lllama-0", "LLAMA-0", "x", ""]


def pool(i: int, selector: dict[str, str]) -> PoolConfig:
    return PoolConfig(name=f"p{i}", model="llama-3.1-8b", served_model_name=f"m{i}", gpu_selector=selector)


selector = st.dictionaries(st.sampled_from(["pod", "namespace"]), st.sampled_from(PATTERNS), min_size=1)


def outcome(find: Any) -> Any:
    try:
        found = find()
    except ConfigError as exc:
        return ("error", str(exc))
    return None if found is None else found.name


@settings(max_examples=400, deadline=None)
@given(
    selectors=st.lists(selector, max_size=6),
    labels=st.dictionaries(st.sampled_from(["pod", "namespace", "exported_pod"]), st.sampled_from(VALUES)),
)
def test_indexed_pools_find_what_every_pool_found(
    selectors: list[dict[str, str]], labels: dict[str, str]
) -> None:
    pools = [pool(i, s) for i, s in enumerate(selectors)]
    indexed = GpuSelectors(pools)
    assert outcome(lambda: indexed.pool_for(labels)) == outcome(lambda: pool_for_every_pool(pools, labels))


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("llama-8b-[0-9]+", "llama-8b-"),
        ("ll?ama", "l"),
        ("lla{2}", "ll"),
        ("a|b", ""),
        ("(?i)x", ""),
        ("xyz", "xyz"),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix
