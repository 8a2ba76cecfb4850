"""Splitting one pool's cost in one interval into KV in use, KV free and static (MODEL.md).

With C the pool's cost, M its GPU memory, K its KV capacity and u the mean KV usage fraction:
KV in use = C·uK/M goes to tenant x tier lines by KV token-seconds; static = C·(M-K)/M goes by the fixed
policy while anyone is active; KV free = C·(1-u)K/M, and static with nobody active, is idle, settled later.
A **gap** (the engine shows work, KV in use or requests running, but no tenant data arrived) puts KV in use
and static on ``__unmeasured__``, which then stands in for the missing tenants in idle settlement with that
non-idle cost as its weight (``attribute.py``): never dropped, never billed to a tenant as idle.
Rounding is hierarchical (largest remainder at each level): C to KV and static, KV to in use and free, each
component to tenants, then to each tenant's tiers. So static never moves with the KV reading, and a tenant's
lines never lose a micro-dollar because one of its tiers grew (invariant 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import assert_never

from attribution.model.money import allocate
from attribution.model.vocabulary import FixedPolicy, IdleKind

LineKey = tuple[str, str]
"""(tenant, tier)"""


@dataclass(frozen=True, slots=True)
class Usage:
    """What one tenant x tier did in one pool-interval. Token-seconds are a float reading of a counter."""

    kv_token_seconds: float
    requests: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0

    @property
    def weight(self) -> int:
        """Token-seconds as integer milli-token-seconds: exact, comparable weights for the split.

        NaN or infinity is refused: it would otherwise surface as an unexplained rounding error."""
        if not math.isfinite(self.kv_token_seconds):
            raise ValueError(f"kv_token_seconds must be finite, got {self.kv_token_seconds}")
        return max(0, round(self.kv_token_seconds * 1000))


@dataclass(frozen=True, slots=True)
class PoolInterval:
    pool: str
    interval_start_s: int
    interval_seconds: int
    cost_usd_micros: int
    memory_bytes: int
    kv_capacity_bytes: int | None
    kv_usage_ratio: float | None
    kv_bytes_per_token: int
    usage: Mapping[LineKey, Usage]
    fixed_policy: FixedPolicy = FixedPolicy.PROPORTIONAL
    requests_running: float | None = None
    """Mean requests the pool's engines had running over the interval (summed over engines), if read."""
    recovering: bool = False
    """Inside a detected recovery incident (the pool down or reloading while its GPUs are paid): the whole
    cost is the ``recovery`` component, settled by the recovery policy, never idle, static or unmeasured."""

    def __post_init__(self) -> None:
        """The policy as the enum, or ValueError: an unknown policy never reaches a split."""
        if type(self.fixed_policy) is not FixedPolicy:
            object.__setattr__(self, "fixed_policy", FixedPolicy(self.fixed_policy))

    @property
    def engine_active(self) -> bool:
        """The engine shows work: a KV usage reading above zero or requests running. NaN is no reading;
        +inf is above zero (the split clamps it to a full cache, whose KV in use must then be a gap's)."""
        ratio, running = self.kv_usage_ratio, self.requests_running
        return (ratio is not None and ratio > 0) or (running is not None and running > 0)


@dataclass(slots=True)
class Components:
    """A line's money by component; idle is held as its three kinds (``IdleKind``) and ``idle`` is their
    sum, so a reader of ``idle`` sees what it always saw."""

    kv_in_use: int = 0
    static: int = 0
    idle_cold: int = 0
    idle_warm: int = 0
    kv_headroom: int = 0
    unmeasured: int = 0
    recovery: int = 0

    @property
    def idle(self) -> int:
        return self.idle_cold + self.idle_warm + self.kv_headroom

    def add_idle(self, kind: IdleKind, amount: int) -> None:
        """Add ``amount`` of idle of one kind."""
        self.add(kind.value, amount)

    def add(self, component: str, amount: int) -> None:
        """Add ``amount`` to a settled component: an idle kind or ``recovery`` (``SETTLED_COMPONENTS``)."""
        setattr(self, component, getattr(self, component) + amount)

    @property
    def total(self) -> int:
        return self.kv_in_use + self.static + self.idle + self.unmeasured + self.recovery

    @property
    def non_idle(self) -> int:
        return self.kv_in_use + self.static


@dataclass(slots=True)
class PoolSplit:
    pool: str
    interval_start_s: int
    cost_usd_micros: int
    memory_bytes: int
    kv_capacity_bytes: int
    kv_in_use_bytes: int
    kv_in_use_usd_micros: int
    kv_free_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    unmeasured_usd_micros: int
    estimated: bool
    lines: dict[LineKey, Components] = field(default_factory=dict)
    gap: bool = False
    """The engine worked and no tenant data arrived: ``unmeasured_usd_micros`` is the missing tenants'
    non-idle cost (KV in use + static), their weight in idle settlement."""
    idle_kind: IdleKind = IdleKind.HEADROOM
    """The kind of ``idle_usd_micros``: free KV of an interval that served (or a gap's, where the engine
    worked) is ``kv_headroom``; the whole cost of an interval nobody used is ``idle_warm``."""
    recovery_usd_micros: int = 0
    """The whole cost of a recovering pool-interval: its KV, static, idle and unmeasured figures are then 0
    (nothing was served, nothing idled by choice), and it has no lines."""


def _kv_in_use_bytes(pi: PoolInterval, capacity: int, total_weight: int) -> tuple[int, bool]:
    """KV bytes in use and whether that is an estimate (no engine reading: from token-seconds)."""
    if pi.kv_usage_ratio is not None:
        ratio = min(1.0, max(0.0, pi.kv_usage_ratio))
        return min(capacity, round(ratio * capacity)), False
    mean_tokens = total_weight / 1000 / pi.interval_seconds
    return min(capacity, round(mean_tokens * pi.kv_bytes_per_token)), True


def allocate_by_tenant(
    amount: int, keys: list[LineKey], weights: list[int], tenant_weights: list[int] | None = None
) -> list[int]:
    """Largest remainder at each level: to tenants (by their summed ``weights`` unless given), then to
    each tenant's tiers. Rounding tiers separately lets one tier's growth cost its own tenant a unit."""
    rows: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        rows.setdefault(k[0], []).append(i)
    tenants = sorted(rows)
    if tenant_weights is None:
        tenant_weights = [sum(weights[i] for i in rows[t]) for t in tenants]
    parts = [0] * len(keys)
    for tenant, share in zip(tenants, allocate(amount, tenant_weights), strict=True):
        if share:
            for i, part in zip(
                rows[tenant], allocate(share, [weights[i] for i in rows[tenant]]), strict=True
            ):
                parts[i] = part
    return parts


def _allocate_fixed(pi: PoolInterval, keys: list[LineKey], amount: int) -> list[int]:
    """The static component by the pool's fixed policy; ``tokens`` falls back to token-seconds when no
    tokens were counted."""
    proportional = [pi.usage[k].weight for k in keys]
    match pi.fixed_policy:
        case FixedPolicy.TOKENS:
            tokens = [pi.usage[k].prompt_tokens + pi.usage[k].generation_tokens for k in keys]
            return allocate_by_tenant(amount, keys, tokens if sum(tokens) else proportional)
        case FixedPolicy.EVEN:
            # equal per active tenant, then by token-seconds across that tenant's tiers
            return allocate_by_tenant(amount, keys, proportional, [1] * len({k[0] for k in keys}))
        case FixedPolicy.PROPORTIONAL:
            return allocate_by_tenant(amount, keys, proportional)
        case _:
            assert_never(pi.fixed_policy)


def split_pool_interval(pi: PoolInterval) -> PoolSplit:
    """Split one pool-interval; the result's lines + idle + unmeasured sum exactly to the pool's cost."""
    memory = max(pi.memory_bytes, 1)
    capacity = min(pi.kv_capacity_bytes or 0, memory)
    # a recovering pool-interval serves nobody, whatever the gateway names: its cost is recovery
    keys = [] if pi.recovering else sorted(k for k, u in pi.usage.items() if u.weight > 0)
    total_weight = sum(pi.usage[k].weight for k in keys)
    in_use_bytes, estimated = _kv_in_use_bytes(pi, capacity, total_weight)
    estimated = estimated or pi.kv_capacity_bytes is None
    # static first, from M and K alone, so that no KV reading can move a micro-dollar into or out of it
    c_kv, c_static = allocate(pi.cost_usd_micros, [capacity, memory - capacity])
    c_use, c_free = allocate(c_kv, [in_use_bytes, capacity - in_use_bytes]) if capacity else (0, 0)
    split = PoolSplit(
        pool=pi.pool,
        interval_start_s=pi.interval_start_s,
        cost_usd_micros=pi.cost_usd_micros,
        memory_bytes=pi.memory_bytes,
        kv_capacity_bytes=capacity,
        kv_in_use_bytes=in_use_bytes,
        kv_in_use_usd_micros=c_use,
        kv_free_usd_micros=c_free,
        static_usd_micros=c_static,
        idle_usd_micros=c_free,
        unmeasured_usd_micros=0,
        estimated=estimated,
    )
    if pi.recovering:  # inside an incident: nobody is served, whoever the gateway names
        split.kv_in_use_usd_micros = split.kv_free_usd_micros = split.static_usd_micros = 0
        split.idle_usd_micros = 0
        split.recovery_usd_micros = pi.cost_usd_micros
        return split
    if not keys:
        if pi.engine_active:
            # a telemetry gap: someone was served, we do not know whom; their cost is unmeasured
            split.gap = True
            split.unmeasured_usd_micros = c_use + c_static
        else:  # nobody served: KV in use is 0 here (no reading above zero), static is idle
            split.unmeasured_usd_micros = c_use
            split.idle_usd_micros += c_static
            split.idle_kind = IdleKind.WARM
        return split
    lines = {k: Components() for k in keys}
    kv_parts = allocate_by_tenant(c_use, keys, [pi.usage[k].weight for k in keys])
    for k, part in zip(keys, kv_parts, strict=True):
        lines[k].kv_in_use = part
    for k, part in zip(keys, _allocate_fixed(pi, keys, c_static), strict=True):
        lines[k].static = part
    split.lines = lines
    return split
