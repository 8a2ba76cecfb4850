"""Request arrivals and lengths per tenant: a thinned Poisson process, lognormal lengths.

Arrivals are drawn per hour-long *epoch* of Unix time, each (tenant, epoch) from its own random stream
seeded by the cluster seed, the tenant's (name, pool) and the epoch number. So a window's traffic does not
depend on how the simulation is cut into chunks, on where the window starts, or on the other tenants:
history and live runs over the same instants see the same requests.

The rate at Unix time u is r x (1 + A sin(2 pi (u mod 86400) / 86400)) (diurnal; A = 0 is steady), plus a
burst process's rate while one of its bursts is on, plus any scheduled burst's rate. It is drawn by thinning
a homogeneous process at the epoch's peak rate.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from attribution.sim.cluster import ClusterSpec, PoolSpec, TenantProfile

SECONDS_PER_DAY = 86_400
EPOCH_SECONDS = 3_600

#: Clients cap ``max_tokens``: an output draw above this multiple of the tenant's median output is cut
#: there and finishes with vLLM's ``finished_reason="length"``.
MAX_TOKENS_FACTOR = 4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Arrivals:
    """One pool's requests in arrival order. ``time`` is seconds after the window start; ``profile``
    indexes ``ClusterSpec.tenants``; ``tier`` is the context tier of prompt + output. Tokens are integers
    >= 1 with prompt + output <= the pool's ``max_model_len``; ``capped`` marks outputs cut by max_tokens
    or by the context length (vLLM's ``finished_reason="length"``)."""

    time: FloatArray
    profile: IntArray
    tier: IntArray
    prompt: IntArray
    output: IntArray
    capped: BoolArray

    @property
    def count(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class _EpochDraw:
    time: FloatArray
    prompt: IntArray
    output: IntArray
    capped: BoolArray


class Workload:
    """Arrivals of the pools (all, or those in ``pools``) for any range of the simulation, epoch by epoch
    (two epochs cached)."""

    def __init__(
        self,
        spec: ClusterSpec,
        start_unix_seconds: int,
        tier_boundaries_tokens: tuple[int, ...],
        pools: frozenset[int] | None = None,
    ) -> None:
        self._spec = spec
        self._start = start_unix_seconds
        self._bounds = np.asarray(tier_boundaries_tokens, dtype=np.int64)
        index = {pool.name: i for i, pool in enumerate(spec.pools)}
        self._by_pool: list[list[int]] = [[] for _ in spec.pools]
        for i, tenant in enumerate(spec.tenants):
            if pools is None or index[tenant.pool] in pools:
                self._by_pool[index[tenant.pool]].append(i)
        self._tenants = [i for indices in self._by_pool for i in indices]
        self._keys = [zlib.crc32(f"{t.name}\x00{t.pool}".encode()) for t in spec.tenants]
        self._cache: dict[int, dict[int, _EpochDraw]] = {}

    def arrivals(self, begin_seconds: float, end_seconds: float) -> list[Arrivals]:
        """Per pool, the arrivals in [begin_seconds, end_seconds) (seconds after the window start); empty
        for pools this workload does not draw."""
        first = math.floor((self._start + begin_seconds) / EPOCH_SECONDS)
        last = math.ceil((self._start + end_seconds) / EPOCH_SECONDS)
        epochs = [self._epoch(e) for e in range(first, last)]
        result = []
        for indices in self._by_pool:
            parts: list[tuple[int, _EpochDraw]] = [(i, draws[i]) for draws in epochs for i in indices]
            result.append(self._merge(parts, begin_seconds, end_seconds))
        return result

    def _epoch(self, epoch: int) -> dict[int, _EpochDraw]:
        if epoch not in self._cache:
            if len(self._cache) >= 2:
                del self._cache[min(self._cache)]
            spec = self._spec
            pools = {pool.name: pool for pool in spec.pools}
            self._cache[epoch] = {
                i: _draw_epoch(spec.tenants[i], pools[spec.tenants[i].pool], spec.seed, self._keys[i], epoch,
                               self._start)
                for i in self._tenants
            }  # fmt: skip
        return self._cache[epoch]

    def _merge(self, parts: list[tuple[int, _EpochDraw]], begin: float, end: float) -> Arrivals:
        """Concatenate the tenants' draws, keep [begin, end), order by time (stable by tenant index)."""
        if not parts:
            empty_f, empty_i = np.zeros(0), np.zeros(0, dtype=np.int64)
            return Arrivals(empty_f, empty_i, empty_i, empty_i, empty_i, np.zeros(0, dtype=np.bool_))
        time = np.concatenate([d.time for _, d in parts])
        profile = np.concatenate([np.full(d.time.size, i, dtype=np.int64) for i, d in parts])
        keep = np.flatnonzero((time >= begin) & (time < end))
        order = keep[np.lexsort((profile[keep], time[keep]))]
        prompt = np.concatenate([d.prompt for _, d in parts])[order]
        output = np.concatenate([d.output for _, d in parts])[order]
        tier = np.searchsorted(self._bounds, prompt + output, side="right") - 1
        return Arrivals(
            time=time[order],
            profile=profile[order],
            tier=tier.astype(np.int64),
            prompt=prompt,
            output=output,
            capped=np.concatenate([d.capped for _, d in parts])[order],
        )


def _draw_epoch(
    tenant: TenantProfile, pool: PoolSpec, seed: int, key: int, epoch: int, start_unix: int
) -> _EpochDraw:
    """The tenant's arrivals in one epoch, times relative to the window start."""
    rng = np.random.default_rng([seed, key, epoch])
    epoch_unix = epoch * EPOCH_SECONDS
    windows = _burst_windows(tenant, seed, key, epoch) if tenant.bursts is not None else []
    scheduled = [
        (
            start_unix + b.at_seconds - epoch_unix,
            start_unix + b.at_seconds + b.duration_seconds - epoch_unix,
            b,
        )
        for b in tenant.scheduled_bursts
    ]
    scheduled = [(a, b, burst) for a, b, burst in scheduled if b > 0 and a < EPOCH_SECONDS]
    burst_rate = tenant.bursts.requests_per_second if tenant.bursts is not None and windows else 0.0
    peak = (
        tenant.requests_per_second * (1.0 + tenant.diurnal_amplitude)
        + burst_rate
        + sum(b.requests_per_second for _, _, b in scheduled)
    )
    candidates = int(rng.poisson(peak * EPOCH_SECONDS)) if peak > 0 else 0
    offsets = np.sort(rng.uniform(0.0, EPOCH_SECONDS, candidates))
    rate = np.full(candidates, tenant.requests_per_second)
    if tenant.diurnal_amplitude > 0:
        phase = ((epoch_unix + offsets) % SECONDS_PER_DAY) / SECONDS_PER_DAY
        rate = rate * (1.0 + tenant.diurnal_amplitude * np.sin(2.0 * np.pi * phase))
    if burst_rate > 0:
        on = np.zeros(candidates, dtype=np.bool_)
        for a, b in windows:
            on |= (offsets >= a) & (offsets < b)
        rate = rate + burst_rate * on
    for a, b, burst in scheduled:
        rate = rate + burst.requests_per_second * ((offsets >= a) & (offsets < b))
    if peak > 0:
        offsets = offsets[rng.uniform(0.0, peak, candidates) < rate]
    count = offsets.size
    max_tokens = MAX_TOKENS_FACTOR * tenant.output_tokens_median
    output_draw = _lognormal_tokens(rng, tenant.output_tokens_median, tenant.output_tokens_sigma, count)
    output = np.minimum(output_draw, min(max_tokens, pool.max_model_len - 1))
    prompt_draw = _lognormal_tokens(rng, tenant.prompt_tokens_median, tenant.prompt_tokens_sigma, count)
    prompt = np.minimum(prompt_draw, pool.max_model_len - output)
    return _EpochDraw(
        time=(epoch_unix - start_unix) + offsets,
        prompt=prompt,
        output=output,
        capped=output < output_draw,
    )


def _burst_windows(tenant: TenantProfile, seed: int, key: int, epoch: int) -> list[tuple[float, float]]:
    """On-intervals of the tenant's burst process that touch this epoch, as offsets into it. Bursts last at
    most one epoch, so those started in the previous epoch are the only ones that can spill over."""
    process = tenant.bursts
    assert process is not None
    windows: list[tuple[float, float]] = []
    for started, shift in ((epoch - 1, -EPOCH_SECONDS), (epoch, 0)):
        rng = np.random.default_rng([seed, key, started, 1])
        count = int(rng.poisson(process.starts_per_hour * EPOCH_SECONDS / 3600.0))
        starts = rng.uniform(0.0, EPOCH_SECONDS, count) + shift
        lengths = np.minimum(rng.exponential(process.mean_seconds, count), EPOCH_SECONDS)
        windows.extend((float(a), float(a + d)) for a, d in zip(starts, lengths, strict=True) if a + d > 0)
    return windows


def _lognormal_tokens(rng: np.random.Generator, median: int, sigma: float, count: int) -> IntArray:
    """Integer token counts >= 1 whose log is normal with mean log(median) and std ``sigma``."""
    draws = rng.lognormal(np.log(median), sigma, count)
    return np.maximum(np.rint(draws), 1).astype(np.int64)
