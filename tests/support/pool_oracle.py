"""``GpuSelectors.pool_for`` as it was before pools were indexed by their patterns' literal prefixes:
every pool tried, in order. The oracle of tests/collectors/test_gpu_selectors.py."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from attribution.collectors.labels import label
from attribution.config import PoolConfig
from attribution.errors import ConfigError


def pool_for_every_pool(pools: Sequence[PoolConfig], labels: Mapping[str, str]) -> PoolConfig | None:
    found = []
    for pool in pools:
        for name, pattern in pool.gpu_selector.items():
            value = label(labels, name)
            if value is None or re.compile(pattern, re.ASCII).fullmatch(value) is None:
                break
        else:
            found.append(pool)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        shown = {k: v for k, v in sorted(labels.items()) if k != "__name__"}
        raise ConfigError(f"a GPU matches the gpu_selector of pools {names}: make them exclusive ({shown})")
    return found[0] if found else None
