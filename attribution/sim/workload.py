"""Request arrivals and lengths per tenant: Poisson arrivals by thinning, lognormal lengths.

Every tenant draws from its own random stream, seeded by the cluster seed and the tenant's and pool's
names, so adding a tenant does not change the others' traffic. Times are float seconds relative to the
window start; ``start_unix_seconds`` only sets the phase of the diurnal cycle (UTC second of day).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from attribution.sim.scenario import PoolSpec, TenantProfile

SECONDS_PER_DAY = 86_400

#: Clients cap ``max_tokens``: an output draw above this multiple of the tenant's median output is cut
#: there and finishes with vLLM's ``finished_reason="length"``.
MAX_TOKENS_FACTOR = 4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TenantArrivals:
    """One tenant's requests in arrival order. Tokens are integers >= 1 with prompt + output within
    the pool's ``max_model_len``; ``length_capped`` marks outputs cut by max_tokens or the context."""

    arrival_seconds: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    length_capped: BoolArray


def tenant_rng(seed: int, tenant: TenantProfile) -> np.random.Generator:
    """A stream that depends only on the cluster seed and the tenant's (name, pool)."""
    key = zlib.crc32(f"{tenant.name}\x00{tenant.pool}".encode())
    return np.random.default_rng([seed, key])


def draw_tenant_arrivals(
    tenant: TenantProfile,
    pool: PoolSpec,
    rng: np.random.Generator,
    begin_seconds: float,
    end_seconds: float,
    start_unix_seconds: int,
) -> TenantArrivals:
    """Arrivals in [begin_seconds, end_seconds) (relative to the window start) and their lengths.

    The non-homogeneous Poisson process of rate r x (1 + A sin(2 pi s / 86400)), s the UTC second of
    day, is drawn by thinning a homogeneous one of rate r x (1 + A).
    """
    amplitude = tenant.diurnal_amplitude
    peak_rate = tenant.requests_per_second * (1.0 + amplitude)
    span_seconds = max(0.0, end_seconds - begin_seconds)
    candidates = int(rng.poisson(peak_rate * span_seconds)) if peak_rate > 0 else 0
    times = np.sort(rng.uniform(begin_seconds, end_seconds, candidates))
    if amplitude > 0:
        phase = ((start_unix_seconds + times) % SECONDS_PER_DAY) / SECONDS_PER_DAY
        keep = rng.uniform(0.0, 1.0 + amplitude, candidates) < 1.0 + amplitude * np.sin(2.0 * np.pi * phase)
        times = times[keep]
    count = times.size
    max_tokens = MAX_TOKENS_FACTOR * tenant.output_tokens_median
    output_draw = _lognormal_tokens(rng, tenant.output_tokens_median, tenant.output_tokens_sigma, count)
    output = np.minimum(output_draw, min(max_tokens, pool.max_model_len - 1))
    prompt_draw = _lognormal_tokens(rng, tenant.prompt_tokens_median, tenant.prompt_tokens_sigma, count)
    prompt = np.minimum(prompt_draw, pool.max_model_len - output)
    return TenantArrivals(
        arrival_seconds=times.astype(np.float64),
        prompt_tokens=prompt,
        output_tokens=output,
        length_capped=output < output_draw,
    )


def _lognormal_tokens(rng: np.random.Generator, median: int, sigma: float, count: int) -> IntArray:
    """Integer token counts >= 1 whose log is normal with mean log(median) and std ``sigma``."""
    draws = rng.lognormal(np.log(median), sigma, count)
    return np.maximum(np.rint(draws), 1).astype(np.int64)
