"""The model's own words: the names it books lines under and the policies it settles cost by.

Every reserved name is spelled here once, and :data:`RESERVED_NAMES` is built from them, so config
validation refuses a pool or tenant that would merge with the model's own lines, whichever name is
added next. A policy is an enum from the settings' edge inward: the engines match it exhaustively
(``assert_never``), so a value no engine knows cannot be constructed, and a new policy fails the type
check in every place that must handle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

UNALLOCATED = "__unallocated__"
#: The pool of GPUs paid for that serve no pool; their cost is cluster idle.
UNALLOCATED_POOL = UNALLOCATED
#: The tenant of usage whose tenant label is missing, unknown or not a valid name (never dropped).
UNALLOCATED_TENANT = UNALLOCATED
#: The pool of the month's fixed overheads (network, storage, staff), settled like cluster idle.
OVERHEAD_POOL = "__overhead__"
#: The pool of cost outside every pool that nobody can carry: GPUs never sampled.
CLUSTER_POOL = "__cluster__"
#: The pool of gateway usage whose model matches no configured pool.
UNMAPPED_POOL = "__unmapped__"
#: The tenant of cost without telemetry (unsampled GPUs, telemetry gaps): never billed to a tenant.
UNMEASURED = "__unmeasured__"
#: The tenant of idle cost nobody in its settlement chain can carry.
IDLE = "__idle__"
#: The tenant of recovery cost (a pool down or reloading while its GPUs are paid) kept for the platform.
RECOVERY = "__recovery__"
#: The tier of lines that are no tenant's request traffic (idle, unmeasured, reservations, overheads).
NO_TIER = "__none__"

#: Every name the model books its own lines under: no pool, tenant or tier may be configured as one.
RESERVED_NAMES = frozenset(
    {UNALLOCATED, OVERHEAD_POOL, CLUSTER_POOL, UNMAPPED_POOL, UNMEASURED, IDLE, RECOVERY, NO_TIER}
)


class IdleKind(StrEnum):
    """The three kinds of idle, each a component of every line (``idle`` is their exact sum).

    Every idle amount the model settles is of one kind, known where it arises: a pool-interval that
    served (or a telemetry gap, where the engine worked) leaves its free KV cache, ``kv_headroom``; a
    pool-interval nobody used leaves its whole cost, weights loaded and no traffic, ``idle_warm``; GPUs in
    no pool and the month's overheads are cluster idle, ``idle_cold``. Settlement moves an amount whole
    to its lines, so every share of it is of its kind and the parts add up exactly, with no rounding.
    """

    COLD = "idle_cold"
    WARM = "idle_warm"
    HEADROOM = "kv_headroom"


#: The component names of the idle kinds, in their fixed order (columns, statements, exports).
IDLE_KINDS: tuple[str, ...] = tuple(k.value for k in IdleKind)


#: The component of a pool-interval's cost inside a recovery incident: its own, never idle or static.
RECOVERY_COMPONENT = "recovery"
#: The components an amount settled down a fallback chain can be booked as: the idle kinds, then recovery.
SETTLED_COMPONENTS: tuple[str, ...] = (*IDLE_KINDS, RECOVERY_COMPONENT)


class RecoveryPolicy(StrEnum):
    """Who pays a recovery incident: the platform (a ``__recovery__`` line of the pool, the default: an
    outage is the operator's, and a tenant should not pay more because a pool it used crashed), or the
    pool's tenants, shared by their non-idle cost like idle under ``share``."""

    PLATFORM = "platform"
    SHARE = "share"


class FixedPolicy(StrEnum):
    """How a pool's static cost (weights and runtime, the memory KV cannot use) goes to active tenants."""

    PROPORTIONAL = "proportional"
    EVEN = "even"
    TOKENS = "tokens"


class IdlePolicy(StrEnum):
    """Where idle cost goes: shared by use, kept on ``__idle__``, or first to reserving tenants."""

    SHARE = "share"
    SEPARATE = "separate"
    RESERVED = "reserved"


class SettlementWindow(StrEnum):
    """The window over which idle cost is settled against the tenants' non-idle cost."""

    INTERVAL = "interval"
    HOUR = "hour"
    DAY = "day"
    PERIOD = "period"


@dataclass(frozen=True, slots=True)
class IdleRoute:
    """Where one idle amount is settled, in order; what none of them takes is an ``__idle__`` line."""

    reserve: bool
    """Charge the pool's reserving tenants their fractions first."""
    pool: bool
    """Then share by the pool's own weights (its settlement window, then its period)."""
    cluster: bool
    """Then share by every tenant's weights across the cluster."""


def idle_route(pool_policy: IdlePolicy | None, cluster_policy: IdlePolicy) -> IdleRoute:
    """The route of a pool's idle (``pool_policy``) or of cluster idle (None) under the cluster's policy.

    Both engines settle by this one function, so they cannot disagree on what a policy means."""
    cluster = cluster_shares_idle(cluster_policy)
    match pool_policy:
        case IdlePolicy.RESERVED:
            return IdleRoute(reserve=True, pool=True, cluster=cluster)
        case IdlePolicy.SHARE:
            return IdleRoute(reserve=False, pool=True, cluster=cluster)
        case IdlePolicy.SEPARATE:
            return IdleRoute(reserve=False, pool=False, cluster=False)
        case None:
            return IdleRoute(reserve=False, pool=False, cluster=cluster)
        case _:
            assert_never(pool_policy)


def recovery_route(policy: RecoveryPolicy, cluster_policy: IdlePolicy) -> IdleRoute:
    """The route of a pool-interval's recovery cost: straight to ``__recovery__`` (``platform``), or
    shared like a pool's idle under ``share``, falling back to the cluster as its idle would."""
    match policy:
        case RecoveryPolicy.PLATFORM:
            return IdleRoute(reserve=False, pool=False, cluster=False)
        case RecoveryPolicy.SHARE:
            return IdleRoute(reserve=False, pool=True, cluster=cluster_shares_idle(cluster_policy))
        case _:
            assert_never(policy)


def cluster_shares_idle(cluster_policy: IdlePolicy) -> bool:
    """Whether cluster idle is shared across the cluster's tenants. ``reserved`` has no cluster-wide
    meaning (reservations are of a pool): the job passes ``share`` for it, and here it keeps idle."""
    match cluster_policy:
        case IdlePolicy.SHARE:
            return True
        case IdlePolicy.SEPARATE | IdlePolicy.RESERVED:
            return False
        case _:
            assert_never(cluster_policy)
