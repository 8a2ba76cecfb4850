"""The model's vocabulary: one set of reserved names, and policies that cannot be unknown.

An unknown policy used to be taken for ``proportional`` by the vectorised split; now it is refused where
the model's inputs are built, so neither engine ever sees one.
"""

from __future__ import annotations

import pytest

from attribution.model import vocabulary
from attribution.model.attribute import Policies
from attribution.model.split import PoolInterval, Usage
from attribution.model.vocabulary import RESERVED_NAMES, FixedPolicy, IdlePolicy, idle_route


def test_every_reserved_name_the_model_defines_is_in_the_one_set() -> None:
    spelled = {v for v in vars(vocabulary).values() if isinstance(v, str) and v.startswith("__")}
    assert spelled == RESERVED_NAMES
    assert {"__overhead__", "__none__", "__unmapped__"} <= RESERVED_NAMES
    assert "__filtered__" not in RESERVED_NAMES  # nothing books a line under it


def _pool_interval(policy: str) -> PoolInterval:
    return PoolInterval("p", 0, 60, 1, 1, None, None, 1, {("a", "t"): Usage(1.0)}, fixed_policy=policy)  # type: ignore[arg-type]


def test_an_unknown_fixed_policy_cannot_be_constructed() -> None:
    with pytest.raises(ValueError, match="'unknown' is not a valid FixedPolicy"):
        _pool_interval("unknown")
    assert _pool_interval("even").fixed_policy is FixedPolicy.EVEN


def test_an_unknown_idle_policy_cannot_be_constructed() -> None:
    with pytest.raises(ValueError, match="'spread' is not a valid IdlePolicy"):
        Policies({"p": "spread"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="is not a valid IdlePolicy"):
        Policies({}, cluster_idle="spread")  # type: ignore[arg-type]
    assert Policies({"p": "reserved"}).idle_by_pool["p"] is IdlePolicy.RESERVED


@pytest.mark.parametrize("cluster", list(IdlePolicy))
@pytest.mark.parametrize("pool", [*IdlePolicy, None])
def test_every_idle_policy_has_a_route(pool: IdlePolicy | None, cluster: IdlePolicy) -> None:
    route = idle_route(pool, cluster)
    assert route.reserve == (pool is IdlePolicy.RESERVED)
    assert route.pool == (pool in (IdlePolicy.SHARE, IdlePolicy.RESERVED))
    assert route.cluster == (pool is not IdlePolicy.SEPARATE and cluster is IdlePolicy.SHARE)
