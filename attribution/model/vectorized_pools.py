"""Pool-intervals and their splits as columns: one numpy array per field instead of one object per pool
and interval.

The job builds a window's pool-intervals as :class:`PoolColumns` (a month of a full fleet is more than a
million of them) and the vectorised engine returns their pool-level figures as :class:`PoolResults`, so
neither side builds a ``PoolInterval`` or a ``PoolSplit`` per row. The reference engine, which works on
those objects, remains the oracle: the converters here (``from_objects``, ``to_objects``, ``from_splits``,
``to_splits``) serve its fallback path and the tests that compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from attribution.model.split import Components, LineKey, PoolInterval, PoolSplit
from attribution.model.vectorized_kernels import F64, I64, Mask, NotVectorisableError, as_int64, runs
from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import FixedPolicy, IdleKind

POLICIES = (FixedPolicy.PROPORTIONAL, FixedPolicy.EVEN, FixedPolicy.TOKENS)
"""The fixed policies by column code (``PoolColumns.policy``)."""
POLICY_CODE = {policy: code for code, policy in enumerate(POLICIES)}


def _floats(values: Sequence[float | None]) -> tuple[F64, Mask]:
    """Optional floats as a column (NaN where None) and where a value was given."""
    try:
        column = np.fromiter((math.nan if v is None else v for v in values), np.float64, len(values))
    except (TypeError, ValueError, OverflowError) as exc:
        raise NotVectorisableError("readings that are not numbers") from exc
    return column, np.fromiter((v is not None for v in values), np.bool_, len(values))


@dataclass(slots=True)
class PoolColumns:
    """Pool-intervals as columns: row i is pool ``pools[pool[i]]`` at ``start[i]`` (Unix seconds). The
    fields mean what ``PoolInterval``'s do; an optional reading is a value column and a mask of where it
    was read (``kv_capacity`` 0 and ``kv_ratio`` NaN elsewhere); ``running`` is NaN where not read (the
    engine only asks whether it is above zero); ``policy`` indexes :data:`POLICIES`. No usage: the engine
    takes it as :class:`UsageColumns`."""

    pools: list[str]
    start: I64
    pool: I64
    seconds: I64
    cost: I64
    memory: I64
    kv_capacity: I64
    has_capacity: Mask
    kv_ratio: F64
    has_ratio: Mask
    bytes_per_token: I64
    policy: I64
    running: F64
    recovering: Mask

    def __len__(self) -> int:
        return int(self.start.size)

    def take(self, rows: I64) -> PoolColumns:
        """These rows, in this order."""
        taken = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "pools"}
        return PoolColumns(pools=self.pools, **taken)

    def engine_active(self) -> Mask:
        """``PoolInterval.engine_active`` of every row."""
        return (self.has_ratio & (self.kv_ratio > 0)) | (self.running > 0)

    @classmethod
    def from_objects(cls, pis: Sequence[PoolInterval]) -> PoolColumns:
        """The columns of ``pis`` (their ``usage`` aside: see :func:`usage_of`); raises
        ``NotVectorisableError`` for values the columns cannot hold exactly."""
        pools = sorted({p.pool for p in pis})
        code = {name: i for i, name in enumerate(pools)}
        n = len(pis)
        ratio, has_ratio = _floats([p.kv_usage_ratio for p in pis])
        running, _ = _floats([p.requests_running for p in pis])
        return cls(
            pools=pools,
            start=as_int64([p.interval_start_s for p in pis]),
            pool=np.fromiter((code[p.pool] for p in pis), np.int64, n),
            seconds=as_int64([p.interval_seconds for p in pis]),
            cost=as_int64([p.cost_usd_micros for p in pis]),
            memory=as_int64([p.memory_bytes for p in pis]),
            kv_capacity=as_int64([p.kv_capacity_bytes or 0 for p in pis]),
            has_capacity=np.fromiter((p.kv_capacity_bytes is not None for p in pis), np.bool_, n),
            kv_ratio=ratio,
            has_ratio=has_ratio,
            bytes_per_token=as_int64([p.kv_bytes_per_token for p in pis]),
            policy=np.fromiter((POLICY_CODE[p.fixed_policy] for p in pis), np.int64, n),
            running=running,
            recovering=np.fromiter((p.recovering for p in pis), np.bool_, n),
        )

    def to_objects(self) -> list[PoolInterval]:
        """One ``PoolInterval`` per row, without usage (``with_usage`` puts it back)."""
        columns = zip(
            self.pool.tolist(),
            self.start.tolist(),
            self.seconds.tolist(),
            self.cost.tolist(),
            self.memory.tolist(),
            np.where(self.has_capacity, self.kv_capacity, -1).tolist(),
            self.has_capacity.tolist(),
            self.kv_ratio.tolist(),
            self.has_ratio.tolist(),
            self.bytes_per_token.tolist(),
            self.policy.tolist(),
            self.running.tolist(),
            self.recovering.tolist(),
            strict=True,
        )
        return [
            PoolInterval(
                pool=self.pools[pool],
                interval_start_s=start,
                interval_seconds=seconds,
                cost_usd_micros=cost,
                memory_bytes=memory,
                kv_capacity_bytes=capacity if has_capacity else None,
                kv_usage_ratio=ratio if has_ratio else None,
                kv_bytes_per_token=per_token,
                usage={},
                fixed_policy=POLICIES[policy],
                requests_running=None if math.isnan(running) else running,
                recovering=recovering,
            )
            for (
                pool,
                start,
                seconds,
                cost,
                memory,
                capacity,
                has_capacity,
                ratio,
                has_ratio,
                per_token,
                policy,
                running,
                recovering,
            ) in columns
        ]


def usage_of(pis: Sequence[PoolInterval]) -> UsageColumns:
    """The usage the pool-intervals carry, as columns (tokens summed into ``prompt_tokens``: the engine
    reads only token-seconds and the sum of tokens)."""
    pools = sorted({p.pool for p in pis if p.usage})
    keys = sorted({k for p in pis for k in p.usage})
    pool_code = {name: i for i, name in enumerate(pools)}
    key_code = {k: i for i, k in enumerate(keys)}
    starts: list[int] = []
    pool: list[int] = []
    key: list[int] = []
    seconds: list[float] = []
    tokens: list[int] = []
    for p in pis:
        for k, u in p.usage.items():
            starts.append(p.interval_start_s)
            pool.append(pool_code[p.pool])
            key.append(key_code[k])
            seconds.append(u.kv_token_seconds)
            tokens.append(u.prompt_tokens + u.generation_tokens)
    try:
        token_seconds = np.fromiter(seconds, np.float64, len(seconds))
    except (TypeError, ValueError, OverflowError) as exc:
        raise NotVectorisableError("token-seconds that are not numbers") from exc
    zeros = np.zeros(len(starts), dtype=np.int64)
    return UsageColumns(
        interval_start_s=as_int64(starts),
        pool=as_int64(pool),
        key=as_int64(key),
        pools=pools,
        keys=keys,
        requests=zeros,
        prompt_tokens=as_int64(tokens),
        generation_tokens=zeros,
        kv_token_seconds=token_seconds,
    )


@dataclass(slots=True)
class PoolResults:
    """Every pool-interval's split, as columns in (start, pool name) order: ``PoolSplit``'s figures
    (``warm``: its ``idle_kind`` is ``idle_warm``, else ``kv_headroom``). ``lines`` only when asked for
    (``attribute_window_vectorized(split_lines=True)``): (row, key code, KV in use, static) per entry."""

    pools: list[str]
    start: I64
    pool: I64
    cost: I64
    memory: I64
    capacity: I64
    in_use: I64
    kv_in_use: I64
    kv_free: I64
    static: I64
    idle: I64
    unmeasured: I64
    recovery: I64
    estimated: Mask
    gap: Mask
    warm: Mask

    def __len__(self) -> int:
        return int(self.start.size)

    def estimated_keys(self) -> set[tuple[int, str]]:
        """(interval start in Unix seconds, pool) of each estimated pool-interval: what the lines read of
        the estimates, without a :class:`PoolSplit` object each."""
        flagged = np.flatnonzero(self.estimated)
        pools = [self.pools[p] for p in self.pool[flagged].tolist()]
        return set(zip(self.start[flagged].tolist(), pools, strict=True))

    def to_splits(self) -> list[PoolSplit]:
        """``PoolSplit`` objects of these rows, without lines."""
        columns = zip(
            self.pool.tolist(),
            *(getattr(self, f.name).tolist() for f in fields(self) if f.name not in ("pools", "pool")),
            strict=True,
        )
        return [
            PoolSplit(
                pool=self.pools[pool],
                interval_start_s=start,
                cost_usd_micros=cost,
                memory_bytes=memory,
                kv_capacity_bytes=capacity,
                kv_in_use_bytes=in_use,
                kv_in_use_usd_micros=kv_in_use,
                kv_free_usd_micros=kv_free,
                static_usd_micros=static,
                idle_usd_micros=idle,
                unmeasured_usd_micros=unmeasured,
                estimated=estimated,
                gap=gap,
                idle_kind=IdleKind.WARM if warm else IdleKind.HEADROOM,
                recovery_usd_micros=recovery,
            )
            for (
                pool,
                start,
                cost,
                memory,
                capacity,
                in_use,
                kv_in_use,
                kv_free,
                static,
                idle,
                unmeasured,
                recovery,
                estimated,
                gap,
                warm,
            ) in columns
        ]

    @classmethod
    def from_splits(cls, splits: Sequence[PoolSplit]) -> PoolResults:
        """The columns of the reference's splits (its fallback path), sorted by (start, pool)."""
        ordered = sorted(splits, key=lambda s: (s.interval_start_s, s.pool))
        pools = sorted({s.pool for s in ordered})
        code = {name: i for i, name in enumerate(pools)}

        def ints(name: str) -> I64:
            return as_int64([getattr(s, name) for s in ordered])

        def flags(values: list[bool]) -> Mask:
            return np.array(values, dtype=np.bool_).reshape(-1)

        return cls(
            pools=pools,
            start=ints("interval_start_s"),
            pool=as_int64([code[s.pool] for s in ordered]),
            cost=ints("cost_usd_micros"),
            memory=ints("memory_bytes"),
            capacity=ints("kv_capacity_bytes"),
            in_use=ints("kv_in_use_bytes"),
            kv_in_use=ints("kv_in_use_usd_micros"),
            kv_free=ints("kv_free_usd_micros"),
            static=ints("static_usd_micros"),
            idle=ints("idle_usd_micros"),
            unmeasured=ints("unmeasured_usd_micros"),
            recovery=ints("recovery_usd_micros"),
            estimated=flags([s.estimated for s in ordered]),
            gap=flags([s.gap for s in ordered]),
            warm=flags([s.idle_kind is IdleKind.WARM for s in ordered]),
        )


def fill_lines(
    splits: list[PoolSplit], keys: Sequence[LineKey], row: I64, key: I64, kv_in_use: I64, static: I64
) -> None:
    """Each split's ``lines`` from the entries (``row`` indexes ``splits``, sorted by row)."""
    kv, fixed, codes = kv_in_use.tolist(), static.tolist(), key.tolist()
    for first, length in zip(*(a.tolist() for a in runs(row)), strict=True):
        splits[int(row[first])].lines = {
            keys[codes[i]]: Components(kv[i], fixed[i]) for i in range(first, first + length)
        }
