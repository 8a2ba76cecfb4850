"""Histogram bucket bounds of each imitated exporter, and context tiers.

Sources (all read in the released artifacts): vLLM 0.33.0 ``vllm/v1/metrics/buckets.py`` (identical since
0.11.0); SGLang 0.5.23 ``sglang/srt/observability/metrics_collector.py``; LiteLLM 1.110.2
``litellm/types/integrations/prometheus.py`` (``LATENCY_BUCKETS``); the OpenTelemetry GenAI semantic
conventions' recommended buckets, with Envoy AI Gateway v1.1's longer time-to-first-token list
(/work/shared/reference/telemetry-sources.md sections 1.4, 2, 4.1-4.3).
"""

from __future__ import annotations

import itertools

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

#: ``request_num_preemptions`` family (preemptions per finished request).
REQUEST_NUM_PREEMPTIONS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0)

#: SGLang tokenizer histograms (seconds).
SGLANG_TTFT_SECONDS: tuple[float, ...] = (
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0,
)  # fmt: skip
SGLANG_E2E_SECONDS: tuple[float, ...] = (
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0,
    600.0, 1200.0, 1800.0, 2400.0,
)  # fmt: skip
#: SGLang ``sglang:queue_time_seconds`` (scheduler side).
SGLANG_QUEUE_SECONDS: tuple[float, ...] = (
    0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
    50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0,
    1200.0, 1400.0, 1600.0, 1800.0, 2000.0, 2500.0, 3000.0,
)  # fmt: skip

#: LiteLLM 1.110.2 ``LATENCY_BUCKETS`` (its +Inf is implied here).
LITELLM_LATENCY_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 420.0, 600.0,
)  # fmt: skip

#: OpenTelemetry GenAI semantic conventions: ``gen_ai.client.token.usage`` ({token}).
OTEL_TOKEN_USAGE: tuple[float, ...] = (
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
)  # fmt: skip
#: ``gen_ai.server.request.duration`` / ``gen_ai.client.operation.duration`` (s).
OTEL_DURATION_SECONDS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
#: ``gen_ai.server.time_to_first_token`` (s), extended to 60 s as Envoy AI Gateway does.
OTEL_TTFT_SECONDS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0,
    20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
#: ``gen_ai.server.time_per_output_token`` (s).
OTEL_TPOT_SECONDS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
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
