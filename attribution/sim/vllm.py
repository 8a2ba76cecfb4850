"""vLLM V1 (0.33.0) engine series, one engine (``engine="0"``) per pool.

Names, types and labels follow /work/shared/reference/telemetry-sources.md sections 1.2-1.6: engine series
carry ``model_name`` (served name) and ``engine``; ``vllm:cache_config_info`` carries ``engine`` and its
config labels but no ``model_name``. Scrape adds ``job``, ``instance``, ``namespace``, ``pod``.

Simplifications (docs/simulator.md): token counters are credited when a request finishes (vLLM counts
prompt tokens at the first token and generation tokens per step), so engine and gateway counters agree
exactly at every scrape; TTFT is observed at each attempt's first token, the other per-request histograms
at finish, as vLLM does. Every ``finished_reason`` child exists from start-up, as vLLM creates them; only
``stop`` and ``length`` move. While the engine is down its series are absent; they come back at zero.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import (
    REQUEST_LATENCY_SECONDS,
    REQUEST_NUM_PREEMPTIONS,
    TIME_TO_FIRST_TOKEN_SECONDS,
    request_tokens_buckets,
)
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.counters import CounterBank, HistogramBank
from attribution.sim.exposition import Family, HistogramRows, Rows, format_labels, python_float

ENGINE = "0"
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")

#: (name, help, bucket family) of the per-request histograms, observed at finish.
FINISH_HISTOGRAMS: tuple[tuple[str, str, str], ...] = (
    ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", "latency"),
    ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", "latency"),
    ("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
     "latency"),
    ("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", "latency"),
    ("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", "latency"),
    ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", "tokens"),
    ("vllm:request_generation_tokens", "Number of generation tokens processed.", "tokens"),
    ("vllm:request_num_preemptions", "Number of preemptions per finished request.", "preemptions"),
)  # fmt: skip
TTFT = ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.")
COUNTERS: tuple[tuple[str, str], ...] = (
    ("vllm:num_preemptions", "Cumulative number of preemption from the engine."),
    ("vllm:prompt_tokens", "Number of prefill tokens processed."),
    ("vllm:generation_tokens", "Number of generation tokens processed."),
    ("vllm:request_success", "Count of successfully processed requests."),
)


class VllmBuilder:
    """The series of one pool's vLLM engine, carried across chunks (counters restart after an outage)."""

    def __init__(self, context: SimContext, pool_index: int, target: int) -> None:
        self.context, self.p, self.target = context, pool_index, target
        self.pool = pool = context.spec.pools[pool_index]
        self.labels = format_labels((("model_name", pool.served_model_name), ("engine", ENGINE)))
        self.one = [self.labels]
        self.by_reason = [f'{self.labels},reason="capacity"', f'{self.labels},reason="deferred"']
        self.success = [f'{self.labels},finished_reason="{r}"' for r in FINISHED_REASONS]
        config = (
            ("block_size", str(pool.block_size)),
            ("cache_dtype", pool.cache_dtype),
            ("enable_prefix_caching", "True"),
            ("engine", ENGINE),
            ("gpu_memory_utilization", str(pool.gpu_memory_utilization)),
            ("kv_cache_size_tokens", str(pool.kv_capacity_tokens)),
            ("num_cpu_blocks", "None"),
            ("num_gpu_blocks", str(pool.num_gpu_blocks)),
        )
        self.config = [format_labels(config)]
        self.crashes = [o.at_seconds for o in pool.outages]
        self.counters = {name: CounterBank() for name in ("preemptions", "prompt", "generation", "success")}
        bounds = {
            "latency": REQUEST_LATENCY_SECONDS,
            "tokens": request_tokens_buckets(pool.max_model_len),
            "preemptions": REQUEST_NUM_PREEMPTIONS,
        }
        self.histograms = {name: HistogramBank(bounds[kind]) for name, _, kind in FINISH_HISTOGRAMS}
        self.histograms[TTFT[0]] = HistogramBank(TIME_TO_FIRST_TOKEN_SECONDS)
        self.les = {
            name: [python_float(b) for b in bank.bounds.tolist()] + ["+Inf"]
            for name, bank in self.histograms.items()
        }

    def families(self, chunk: Chunk) -> list[Family]:
        p, m = self.p, chunk.n_scrapes
        present = chunk.engine_up[p : p + 1]
        resets = [t for t in self.crashes if chunk.begin <= t < chunk.end]

        def gauge(name: str, help_text: str, values: np.ndarray, labels: list[str] | None = None) -> Family:
            labels = labels or self.one
            rows = Rows(name, labels, [self.target] * len(labels), values, None, present)
            return Family(name, "gauge", help_text, [rows])

        usage = chunk.blocks[p : p + 1] / float(self.pool.usable_blocks)
        waiting = chunk.waiting[p : p + 1]
        families = [
            gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
                  chunk.running[p : p + 1]),
            gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting),
            gauge("vllm:num_requests_waiting_by_reason", "Number of requests waiting, by reason.",
                  np.vstack([waiting, np.zeros_like(waiting)]), self.by_reason),
            gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", usage),
            gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig",
                  np.ones((1, m), dtype=np.int64), self.config),
            *self._counters(chunk, resets, present),
        ]  # fmt: skip
        if self.context.include_histograms:
            families.extend(self._histograms(chunk, resets, present))
        return families

    def _counters(self, chunk: Chunk, resets: list[float], present: np.ndarray) -> list[Family]:
        done, s, f = chunk.completions, chunk.scrapes, np.float64
        mine = done.pool == self.p
        finish = done.finish[mine]
        zeros = np.zeros(finish.size, dtype=np.int64)
        pre_times = chunk.preemption_time[chunk.preemption_pool == self.p]
        reasons = done.capped[mine].astype(np.int64)  # 0 stop, 1 length
        events = {
            "vllm:num_preemptions": ("preemptions", pre_times, np.zeros(pre_times.size, np.int64), 1, None),
            "vllm:prompt_tokens": ("prompt", finish, zeros, 1, done.prompt[mine].astype(f)),
            "vllm:generation_tokens": ("generation", finish, zeros, 1, done.output[mine].astype(f)),
            "vllm:request_success": ("success", finish, reasons, len(FINISHED_REASONS), None),
        }
        families = []
        for name, help_text in COUNTERS:
            key, times, rows, n, weights = events[name]
            values = np.rint(self.counters[key].values(s, times, rows, n, weights, resets)).astype(np.int64)
            labels = self.success if name == "vllm:request_success" else self.one
            rows_out = Rows(f"{name}_total", labels, [self.target] * n, values, None, present)
            families.append(Family(name, "counter", help_text, [rows_out]))
        return families

    def _histograms(self, chunk: Chunk, resets: list[float], present: np.ndarray) -> list[Family]:
        done = chunk.completions
        mine = done.pool == self.p
        arrival, finish = done.arrival[mine], done.finish[mine]
        scheduled, first = done.first_scheduled[mine], done.first_token[mine]
        ft = chunk.first_token_pool == self.p
        observed = {  # (when observed, value)
            "vllm:e2e_request_latency_seconds": (finish, finish - arrival),
            "vllm:request_queue_time_seconds": (finish, scheduled - arrival),
            "vllm:request_inference_time_seconds": (finish, finish - scheduled),
            "vllm:request_prefill_time_seconds": (finish, first - scheduled),
            "vllm:request_decode_time_seconds": (finish, finish - first),
            "vllm:request_prompt_tokens": (finish, done.prompt[mine].astype(np.float64)),
            "vllm:request_generation_tokens": (finish, done.output[mine].astype(np.float64)),
            "vllm:request_num_preemptions": (finish, done.preemptions[mine].astype(np.float64)),
            TTFT[0]: (chunk.first_token_time[ft], chunk.first_token_ttft[ft]),
        }
        families = []
        for name, help_text, _ in (*FINISH_HISTOGRAMS, (*TTFT, "")):
            times, values = observed[name]
            bank = self.histograms[name]
            rows = np.zeros(times.size, dtype=np.int64)
            cumulative, sums = bank.values(chunk.scrapes, times, rows, 1, values, resets)
            histogram = HistogramRows(
                name, self.one, [self.target], self.les[name], cumulative, sums, None, present
            )
            families.append(Family(name, "histogram", help_text, [histogram]))
        return families
