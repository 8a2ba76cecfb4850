"""Histogram bucket bounds and context tiers.

vLLM bounds are those of vLLM 0.33.0 ``vllm/v1/metrics/buckets.py`` (identical since 0.11.0), as listed in
/work/shared/reference/telemetry-sources.md section 1.4. ``go_float`` reproduces how prometheus_client
(and so vLLM) spells a bound in the ``le`` label: "0.3", "1.0", "7680.0", "+Inf".
"""

from __future__ import annotations

import itertools
import math

from attribution.errors import ConfigError

#: ``request_latency`` family: e2e, queue, prefill, decode and inference time (seconds).
REQUEST_LATENCY_SECONDS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip

#: ``time_to_first_token`` family (seconds).
TIME_TO_FIRST_TOKEN_SECONDS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip

#: Context tiers: [0, 4k), [4k, 32k), [32k, 128k), [128k, inf) with k = 1024 tokens.
DEFAULT_TIER_BOUNDARIES_TOKENS: tuple[int, ...] = (0, 4096, 32768, 131072)


def request_tokens_buckets(max_model_len: int) -> tuple[float, ...]:
    """vLLM's ``request_tokens`` family: 1, 2, 5, 10, 20, 50, ... keeping bounds <= max_model_len."""
    bounds: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_model_len:
                return tuple(bounds)
            bounds.append(float(value))
        exponent += 1


def tier_names(boundaries_tokens: tuple[int, ...]) -> tuple[str, ...]:
    """Names of the tiers [b0, b1), ..., [b_last, inf): "0-4k", "4k-32k", "32k-128k", "128k+"."""
    validate_tier_boundaries(boundaries_tokens)
    spelled = [_spell_tokens(b) for b in boundaries_tokens]
    names = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(spelled)]
    return (*names, f"{spelled[-1]}+")


def context_histogram_bounds(boundaries_tokens: tuple[int, ...]) -> tuple[float, ...]:
    """``le`` bounds for ``llm_tenant_request_context_tokens``: each tier's last token count.

    Prometheus buckets are inclusive (value <= le) while tiers are half-open, so the bound for the
    boundary 4096 is 4095: for integer token counts, le="4095.0" counts exactly the [0, 4096) tier.
    """
    validate_tier_boundaries(boundaries_tokens)
    return tuple(float(b - 1) for b in boundaries_tokens[1:])


def validate_tier_boundaries(boundaries_tokens: tuple[int, ...]) -> None:
    if not boundaries_tokens or boundaries_tokens[0] != 0:
        raise ConfigError("tier boundaries must start at 0")
    if any(b <= a for a, b in itertools.pairwise(boundaries_tokens)):
        raise ConfigError("tier boundaries must be strictly increasing")


def _spell_tokens(tokens: int) -> str:
    if tokens == 0:
        return "0"
    if tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return str(tokens)


def go_float(value: float) -> str:
    """A bound as prometheus_client's ``floatToGoString`` writes it (Go's exponent switch included)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text
