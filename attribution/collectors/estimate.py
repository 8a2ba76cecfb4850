"""KV token-seconds estimated from tokens and latency, for gateways that do not export KV residency.

A request pins no KV while it waits; its prompt's KV fills during prefill and stays until it finishes;
its generated tokens' KV grows linearly during decode (telemetry-sources.md section 1.6). With ``F`` the
time to first token (waiting + prefill) and ``L`` the latency (``F`` + decode), taking the whole of ``F``
as a linear fill of the prompt:

    w = prompt x (L - F/2) + generated x (L - F) / 2

A gateway gives per tenant and interval only sums: prompt tokens ``P``, generated tokens ``G``, latency
and TTFT sums and counts (means ``L`` and ``F``), so

    w_hat = P x (L - F/2) + G x (L - F) / 2

``L`` and ``F`` must be measured from the same instant (LiteLLM's ``llm_api_*`` histograms both start at
the call to the engine): then time a gateway holds a request cancels out of ``L - F`` and only half of
it stays in the prompt term. Waiting in the engine's queue counts half (no KV is pinned then: an
overestimate under saturation); means instead of per-request products drop ``n x cov``; a request's
estimate lands in the interval in which it completed. Without TTFT, ``F = 0``. On the simulator's
``mixed`` and ``restart`` scenarios every tenant's share of its pool's memory-time is within 0.7
percentage points of the truth over two hours (docs/collectors.md gives the figures).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Latency:
    """Increases of a latency histogram's ``_sum``/``_count`` (and TTFT's) over one interval."""

    seconds_sum: float = 0.0
    count: float = 0.0
    ttft_seconds_sum: float = 0.0
    ttft_count: float = 0.0

    def __add__(self, other: Latency) -> Latency:
        return Latency(
            self.seconds_sum + other.seconds_sum,
            self.count + other.count,
            self.ttft_seconds_sum + other.ttft_seconds_sum,
            self.ttft_count + other.ttft_count,
        )

    @property
    def mean_seconds(self) -> float | None:
        return self.seconds_sum / self.count if self.count > 0 else None

    @property
    def mean_ttft_seconds(self) -> float:
        return self.ttft_seconds_sum / self.ttft_count if self.ttft_count > 0 else 0.0


def estimate_token_seconds(prompt_tokens: float, generation_tokens: float, latency: Latency) -> float | None:
    """``P x (L - F/2) + G x (L - F) / 2`` with ``F`` at most ``L``; None without a latency observation."""
    mean = latency.mean_seconds
    if mean is None:
        return None
    first = min(latency.mean_ttft_seconds, mean)
    return prompt_tokens * (mean - first / 2) + generation_tokens * (mean - first) / 2
