"""Attribution of a whole window: pool splits, then idle settlement, then cluster-level lines.

Idle under the ``share`` policy goes to a pool's tenant x tier lines in proportion to their non-idle
cost in that pool within the settlement window (an hour by default), rounded to tenants first, then to
their tiers. A window with no tenants falls back to the pool's weights over the whole period.
A pool nobody used is cluster idle, like unallocated GPUs (paid for, serving no pool): it follows the
cluster's policy, over every tenant's weights across the cluster in the settlement window, then over the
whole window, then onto an explicit ``__idle__`` line. GPUs with no telemetry are ``__unmeasured__``.
A telemetry gap (the engine worked, no tenant data arrived) is ``__unmeasured__`` too, and stands in for its
missing tenants wherever idle is settled, with their known non-idle cost as its weight: the idle it takes
is unmeasured as well, so a gap is never billed to a tenant, and the other tenants pay what they would have
paid had the gap been measured.
Every line is dated to the interval whose cost it carries, so any coarser view sums exactly.
Idle is booked by kind (``IdleKind``): cluster idle is ``idle_cold``, a pool-interval nobody used is
``idle_warm``, the free KV of a pool-interval that served is ``kv_headroom``; each amount keeps its kind,
and each kind follows its own policy (``Policies.pool_policy``, ``Policies.cold_policy``).
A pool-interval inside a recovery incident costs ``recovery``, settled by ``Policies.recovery``: on a
``__recovery__`` line of the pool (``platform``) or shared like idle (``share``); it stays recovery wherever
it lands, so the recovery of the lines is exactly the incidents' cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from attribution.model.money import allocate
from attribution.model.split import (
    Components,
    LineKey,
    PoolInterval,
    PoolSplit,
    allocate_by_tenant,
    split_pool_interval,
)
from attribution.model.vocabulary import (
    CLUSTER_POOL,
    IDLE,
    NO_TIER,
    OVERHEAD_POOL,
    RECOVERY,
    RECOVERY_COMPONENT,
    UNALLOCATED_POOL,
    UNMEASURED,
    IdleKind,
    IdlePolicy,
    IdleRoute,
    RecoveryPolicy,
    idle_route,
    recovery_route,
)

LineId = tuple[int, str, str, str]
"""(interval_start_s, pool, tenant, tier)"""


@dataclass(frozen=True, slots=True)
class ClusterInterval:
    """Cost outside any pool in one interval: GPUs sampled but serving no pool, GPUs never sampled, and
    the interval's share of the month's fixed overheads (network, storage, staff)."""

    interval_start_s: int
    unallocated_usd_micros: int
    unmeasured_usd_micros: int
    overhead_usd_micros: int = 0


PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class Reservation:
    """A tenant's reserved fraction of a pool (parts per million), in effect over ``[from_s, to_s)``."""

    tenant: str
    fraction_ppm: int
    from_s: int
    to_s: int | None = None

    def active(self, start_s: int) -> bool:
        return self.from_s <= start_s and (self.to_s is None or start_s < self.to_s)


@dataclass(frozen=True, slots=True)
class Policies:
    idle_by_pool: Mapping[str, IdlePolicy]
    cluster_idle: IdlePolicy = IdlePolicy.SHARE
    settlement_window_seconds: int | None = 3600
    """None settles over the whole attributed window (the ``period`` setting)."""
    reservations_by_pool: Mapping[str, Sequence[Reservation]] = field(default_factory=dict)
    idle_kinds_by_pool: Mapping[str, Mapping[IdleKind, IdlePolicy]] = field(default_factory=dict)
    """A pool's policy for one idle kind (warm, headroom), where it differs from ``idle_by_pool``."""
    cold_idle: IdlePolicy | None = None
    """The policy of ``idle_cold`` (cluster idle: GPUs in no pool, overheads); None: ``cluster_idle``."""
    recovery: RecoveryPolicy = RecoveryPolicy.PLATFORM

    def __post_init__(self) -> None:
        """Policies as the enum, or ValueError: an unknown policy never reaches settlement."""
        object.__setattr__(self, "idle_by_pool", {k: IdlePolicy(v) for k, v in self.idle_by_pool.items()})
        object.__setattr__(self, "cluster_idle", IdlePolicy(self.cluster_idle))
        kinds = {
            pool: {IdleKind(k): IdlePolicy(v) for k, v in by_kind.items()}
            for pool, by_kind in self.idle_kinds_by_pool.items()
        }
        object.__setattr__(self, "idle_kinds_by_pool", kinds)
        if self.cold_idle is not None:
            object.__setattr__(self, "cold_idle", IdlePolicy(self.cold_idle))
        object.__setattr__(self, "recovery", RecoveryPolicy(self.recovery))

    def pool_policy(self, pool: str, kind: IdleKind) -> IdlePolicy:
        """The policy of a pool's idle of one kind: its own for the kind, else the pool's idle policy."""
        own = self.idle_kinds_by_pool.get(pool, {}).get(kind)
        return own if own is not None else self.idle_by_pool.get(pool, self.cluster_idle)

    @property
    def cold_policy(self) -> IdlePolicy:
        return self.cluster_idle if self.cold_idle is None else self.cold_idle

    def pool_route(self, pool: str, kind: IdleKind) -> IdleRoute:
        return idle_route(self.pool_policy(pool, kind), self.cluster_idle)

    @property
    def cold_route(self) -> IdleRoute:
        return idle_route(None, self.cold_policy)

    @property
    def recovery_route(self) -> IdleRoute:
        return recovery_route(self.recovery, self.cluster_idle)


@dataclass(slots=True)
class Attribution:
    splits: list[PoolSplit]
    lines: dict[LineId, Components]

    @property
    def total_usd_micros(self) -> int:
        return sum(c.total for c in self.lines.values())


Weights = dict[LineKey, int]
UNMEASURED_KEY: LineKey = (UNMEASURED, NO_TIER)


def _add(weights: Weights, key: LineKey, amount: int) -> None:
    if amount:
        weights[key] = weights.get(key, 0) + amount


@dataclass(frozen=True, slots=True)
class PeriodScope:
    """Where the period-level fallback of idle settlement looks.

    ``period_of`` names the period of an interval start; ``outside`` holds, per period and pool, the
    non-idle cost of every tenant x tier in the intervals of that period that this run does not
    recompute (already stored). So a run over one hour settles exactly as a run over its whole period
    would, and the result does not depend on the window a run was given.
    """

    period_of: Callable[[int], str]
    outside: Mapping[str, Mapping[str, Mapping[LineKey, int]]] = field(default_factory=dict)


WHOLE_WINDOW = PeriodScope(lambda _: "")


class _Settler:
    """Holds the non-idle weights at each scope and hands idle amounts down the fallback chain."""

    def __init__(self, splits: Sequence[PoolSplit], window_seconds: int | None, scope: PeriodScope) -> None:
        self.window_seconds = window_seconds
        self.scope = scope
        self.pool_window: dict[tuple[str, int | str], Weights] = defaultdict(dict)
        self.pool_period: dict[tuple[str, str], Weights] = defaultdict(dict)
        self.cluster_window: dict[int | str, Weights] = defaultdict(dict)
        self.cluster_period: dict[str, Weights] = defaultdict(dict)
        for period, pools in scope.outside.items():
            for pool, weights in pools.items():
                for key, amount in weights.items():
                    _add(self.pool_period[(pool, period)], key, amount)
                    _add(self.cluster_period[period], key, amount)
        for s in splits:
            period = scope.period_of(s.interval_start_s)
            w = self._window(s.interval_start_s)
            scopes = (
                self.pool_window[(s.pool, w)],
                self.pool_period[(s.pool, period)],
                self.cluster_window[w],
                self.cluster_period[period],
            )
            for weights in scopes:
                for key, comp in s.lines.items():
                    _add(weights, key, comp.non_idle)
                if s.gap:  # the missing tenants' weight, held by __unmeasured__ in their stead
                    _add(weights, UNMEASURED_KEY, s.unmeasured_usd_micros)

    def _window(self, start_s: int) -> int | str:
        """The settlement window's key: a multiple of its length, or the period itself."""
        if self.window_seconds is None:
            return self.scope.period_of(start_s)
        return start_s // self.window_seconds

    def chain_for_pool(self, pool: str, start_s: int) -> Iterable[Weights]:
        period = self.scope.period_of(start_s)
        return (self.pool_window[(pool, self._window(start_s))], self.pool_period[(pool, period)])

    def chain_for_cluster(self, start_s: int) -> Iterable[Weights]:
        period = self.scope.period_of(start_s)
        return (self.cluster_window[self._window(start_s)], self.cluster_period[period])


def _share(
    lines: dict[LineId, Components],
    start_s: int,
    pool: str,
    amount: int,
    component: str,
    chain: Iterable[Weights],
) -> bool:
    """Add ``amount`` of idle (or recovery) to the first non-empty weights of the chain; False when all
    are empty. The idle that falls to ``__unmeasured__`` (the weight of a gap's missing tenants) is
    unmeasured; recovery stays recovery, so the lines' recovery is always the incidents' cost."""
    for weights in chain:
        if weights:
            keys = sorted(weights)
            parts = allocate_by_tenant(amount, keys, [weights[k] for k in keys])
            for key, part in zip(keys, parts, strict=True):
                if part and key == UNMEASURED_KEY and component != RECOVERY_COMPONENT:
                    _line(lines, start_s, pool, key).unmeasured += part
                elif part:
                    _line(lines, start_s, pool, key).add(component, part)
            return True
    return False


def _reserve(
    lines: dict[LineId, Components],
    start_s: int,
    pool: str,
    amount: int,
    component: str,
    reservations: Sequence[Reservation],
) -> int:
    """Charge each active reservation its fraction of ``amount``; returns what is left for sharing."""
    active = sorted((r for r in reservations if r.active(start_s)), key=lambda r: r.tenant)
    if not active:
        return amount
    reserved_ppm = sum(r.fraction_ppm for r in active)
    parts = allocate(amount, [r.fraction_ppm for r in active] + [PPM - reserved_ppm])
    for r, part in zip(active, parts, strict=False):
        if part:
            _line(lines, start_s, pool, (r.tenant, NO_TIER)).add(component, part)
    return parts[-1]


def _settle(
    lines: dict[LineId, Components],
    settler: _Settler,
    start_s: int,
    pool: str,
    amount: int,
    component: str,
    route: IdleRoute,
    reservations: Sequence[Reservation] = (),
) -> None:
    """Idle (or recovery) of a pool or of the cluster down the fallback chain of its ``route``.

    ``reserved`` first charges reserving tenants their fraction, then shares the rest. A pool's idle with
    nobody to share it in the pool becomes cluster idle and follows the cluster's policy, exactly as
    unallocated GPUs do; what nobody can carry is an explicit ``__idle__`` line (``__recovery__`` for
    recovery). The amount is of one ``component`` and keeps it wherever it lands.
    """
    if route.reserve:
        amount = _reserve(lines, start_s, pool, amount, component, reservations)
    if amount == 0:
        return
    chain = settler.chain_for_pool(pool, start_s)
    if route.pool and _share(lines, start_s, pool, amount, component, chain):
        return
    if route.cluster and _share(lines, start_s, pool, amount, component, settler.chain_for_cluster(start_s)):
        return
    terminal = RECOVERY if component == RECOVERY_COMPONENT else IDLE
    _line(lines, start_s, pool, (terminal, NO_TIER)).add(component, amount)


def _line(lines: dict[LineId, Components], start_s: int, pool: str, key: LineKey) -> Components:
    line_id = (start_s, pool, key[0], key[1])
    comp = lines.get(line_id)
    if comp is None:
        comp = lines[line_id] = Components()
    return comp


def attribute_window(
    pool_intervals: Iterable[PoolInterval],
    cluster_intervals: Iterable[ClusterInterval],
    policies: Policies,
    scope: PeriodScope = WHOLE_WINDOW,
) -> Attribution:
    """Attribute every pool-interval and cluster-interval of a window. Pure and order-independent.

    Without a ``scope`` the period-level fallback is the window itself; the job passes the calendar
    months and the stored weights of their other intervals.
    """
    splits = sorted(
        (split_pool_interval(pi) for pi in pool_intervals),
        key=lambda s: (s.interval_start_s, s.pool),
    )
    for a, b in pairwise(splits):
        if (a.interval_start_s, a.pool) == (b.interval_start_s, b.pool):
            raise ValueError(
                f"pool {a.pool!r} appears twice in the interval starting at {a.interval_start_s}"
            )
    lines: dict[LineId, Components] = {}
    for s in splits:
        for key, comp in s.lines.items():
            lines[(s.interval_start_s, s.pool, key[0], key[1])] = Components(comp.kv_in_use, comp.static)
        if s.unmeasured_usd_micros:
            _line(
                lines, s.interval_start_s, s.pool, (UNMEASURED, NO_TIER)
            ).unmeasured += s.unmeasured_usd_micros
    settler = _Settler(splits, policies.settlement_window_seconds, scope)
    for s in splits:
        _settle(
            lines,
            settler,
            s.interval_start_s,
            s.pool,
            s.idle_usd_micros,
            s.idle_kind.value,
            policies.pool_route(s.pool, s.idle_kind),
            policies.reservations_by_pool.get(s.pool, ()),
        )
        if s.recovery_usd_micros:
            route = policies.recovery_route
            _settle(
                lines, settler, s.interval_start_s, s.pool, s.recovery_usd_micros, RECOVERY_COMPONENT, route
            )
    for ci in sorted(cluster_intervals, key=lambda c: c.interval_start_s):
        for pool, amount in (
            (UNALLOCATED_POOL, ci.unallocated_usd_micros),
            (OVERHEAD_POOL, ci.overhead_usd_micros),
        ):
            # GPUs in no pool and the overheads are cluster idle: cold
            _settle(
                lines, settler, ci.interval_start_s, pool, amount, IdleKind.COLD.value, policies.cold_route
            )
        if ci.unmeasured_usd_micros:
            _line(
                lines, ci.interval_start_s, CLUSTER_POOL, (UNMEASURED, NO_TIER)
            ).unmeasured += ci.unmeasured_usd_micros
    return Attribution(splits=splits, lines=lines)
