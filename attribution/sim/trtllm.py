"""TensorRT-LLM engine series, in its two deployments, for pools with ``engine="triton-trtllm"`` or
``engine="trtllm-serve"``.

**Triton's TensorRT-LLM backend** (Triton's ``/metrics``, port 8002; the backend's custom metrics reporter,
``inflight_batcher_llm/src/custom_metrics_reporter/custom_metrics_reporter.cc`` in
triton-inference-server/tensorrtllm_backend, moved to ``triton_backend/`` in NVIDIA/TensorRT-LLM): gauge
families whose series carry ``model`` (the Triton model name; here the pool's served name) and ``version``
plus a category label. ``nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=...}`` has ``max``,
``free``, ``used``, ``tokens_per``, ``reused`` and, in newer releases, ``fraction`` (used / max);
``nv_trt_llm_request_metrics{request_type=...}`` has ``active``, ``max``, ``scheduled``, ``context`` and,
newer, ``waiting``. Triton (prometheus-cpp) writes whole numbers without a decimal point.

**trtllm-serve** (``/prometheus/metrics``): gauges with ``model_name`` and ``engine_type="trtllm"``:
``trtllm_kv_cache_utilization`` (0-1), ``trtllm_num_requests_running``, ``trtllm_num_requests_waiting``,
``trtllm_kv_cache_max_blocks``, ``trtllm_kv_cache_free_blocks``, ``trtllm_kv_cache_used_blocks``,
``trtllm_kv_cache_tokens_per_block`` (names as TensorRT-LLM's metrics reference and the Gateway API
inference extension's ``trtllm-serve`` engine mapping give them).

The scheduler is the simulator's own (as for vLLM and SGLang); TensorRT-LLM's block pool has no null
block, so ``max`` = the pool's ``num_gpu_blocks`` and used + free = max. Live mode serves both on
``/metrics``. No per-request counters or histograms are simulated for either (the gateway exporters carry
tenants' tokens); ``context`` requests are reported as 0 and ``reused`` blocks as 0 (no prefix caching).
"""

from __future__ import annotations

import numpy as np

from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.exposition import Family, Rows, format_labels
from attribution.sim.workload import FloatArray, IntArray

TRITON_KV = ("nv_trt_llm_kv_cache_block_metrics", "TRT LLM KV cache block metrics")
TRITON_REQUESTS = ("nv_trt_llm_request_metrics", "TRT LLM request metrics")
TRITON_KV_TYPES = ("max", "free", "used", "tokens_per", "reused", "fraction")
TRITON_REQUEST_TYPES = ("active", "max", "scheduled", "context", "waiting")
SERVE_GAUGES: tuple[tuple[str, str], ...] = (
    ("trtllm_kv_cache_utilization", "KV cache utilization (used blocks / max blocks)"),
    ("trtllm_num_requests_running", "Number of requests running"),
    ("trtllm_num_requests_waiting", "Number of requests waiting"),
    ("trtllm_kv_cache_max_blocks", "Maximum number of KV cache blocks"),
    ("trtllm_kv_cache_free_blocks", "Number of free KV cache blocks"),
    ("trtllm_kv_cache_used_blocks", "Number of used KV cache blocks"),
    ("trtllm_kv_cache_tokens_per_block", "Number of tokens per KV cache block"),
)


class _TrtllmBase:
    def __init__(self, context: SimContext, pool_index: int, target: int) -> None:
        self.context, self.p, self.target = context, pool_index, target
        self.pool = context.spec.pools[pool_index]

    def _state(self, chunk: Chunk) -> dict[str, IntArray | FloatArray]:
        """Per-scrape engine state, one row: blocks, requests, and the constants broadcast."""
        p, n = self.p, chunk.scrapes.size
        used = chunk.blocks[p : p + 1].astype(np.int64)
        total = self.pool.num_gpu_blocks

        def constant(value: int) -> IntArray:
            return np.full((1, n), value, dtype=np.int64)

        return {
            "max": constant(total),
            "used": used,
            "free": total - used,
            "tokens_per": constant(self.pool.block_size),
            "zero": constant(0),
            "fraction": used / float(total),
            "running": chunk.running[p : p + 1],
            "waiting": chunk.waiting[p : p + 1],
            "max_requests": constant(self.pool.max_num_seqs),
        }


class TritonTrtllmBuilder(_TrtllmBase):
    """Triton with the TensorRT-LLM backend: one ``model``/``version`` per pool."""

    def __init__(self, context: SimContext, pool_index: int, target: int) -> None:
        super().__init__(context, pool_index, target)
        base = (("model", self.pool.served_model_name), ("version", "1"))
        self.kv_labels = [format_labels((("kv_cache_block_type", t), *base)) for t in TRITON_KV_TYPES]
        self.request_labels = [format_labels((("request_type", t), *base)) for t in TRITON_REQUEST_TYPES]

    def families(self, chunk: Chunk) -> list[Family]:
        state = self._state(chunk)
        present = chunk.engine_up[self.p : self.p + 1]
        kv = {"max": "max", "free": "free", "used": "used", "tokens_per": "tokens_per", "reused": "zero"}
        kv["fraction"] = "fraction"
        requests = {"active": "running", "max": "max_requests", "scheduled": "running", "context": "zero"}
        requests["waiting"] = "waiting"
        out = []
        for (name, text), labels, sources in (
            (TRITON_KV, self.kv_labels, [kv[t] for t in TRITON_KV_TYPES]),
            (TRITON_REQUESTS, self.request_labels, [requests[t] for t in TRITON_REQUEST_TYPES]),
        ):
            rows = [
                Rows(name, [label], [self.target], state[source], None, present)
                for label, source in zip(labels, sources, strict=True)
            ]
            out.append(Family(name, "gauge", text, list(rows)))
        return out


class TrtllmServeBuilder(_TrtllmBase):
    """``trtllm-serve``: one engine per pool, ``engine_type="trtllm"``."""

    def __init__(self, context: SimContext, pool_index: int, target: int) -> None:
        super().__init__(context, pool_index, target)
        self.labels = [
            format_labels((("model_name", self.pool.served_model_name), ("engine_type", "trtllm")))
        ]

    def families(self, chunk: Chunk) -> list[Family]:
        state = self._state(chunk)
        present = chunk.engine_up[self.p : self.p + 1]
        source = {
            "trtllm_kv_cache_utilization": "fraction",
            "trtllm_num_requests_running": "running",
            "trtllm_num_requests_waiting": "waiting",
            "trtllm_kv_cache_max_blocks": "max",
            "trtllm_kv_cache_free_blocks": "free",
            "trtllm_kv_cache_used_blocks": "used",
            "trtllm_kv_cache_tokens_per_block": "tokens_per",
        }
        return [
            Family(
                name,
                "gauge",
                text,
                [Rows(name, self.labels, [self.target], state[source[name]], None, present)],
            )
            for name, text in SERVE_GAUGES
        ]
