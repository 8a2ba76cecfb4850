"""SGLang (0.5.23) engine series for a pool with ``engine="sglang"`` (served with ``--enable-metrics``).

Names, labels and buckets from ``sglang/srt/observability/metrics_collector.py`` in the 0.5.23 wheel.
Scheduler series carry ``model_name``, ``engine_type`` (``unified``: no prefill/decode disaggregation),
``tp_rank``, ``pp_rank``, ``moe_ep_rank`` (only attention-TP rank 0 reports, so one series per engine);
tokenizer series carry ``model_name``, ``engine_type`` and, for token and request counters, TTFT and e2e
latency, ``is_streaming`` (``true`` here: every simulated client streams).

The scheduler is the same simulated one as for vLLM (SGLang's retraction plays the part of preemption:
``sglang:num_retracted_requests_total``). KV capacity is ``sglang:max_total_num_tokens`` (token slots; with
page size 1 the pool's blocks are tokens); ``sglang:token_usage`` = used slots / capacity, the radix-cache
residue excluded (no prefix caching is simulated). Counters restart after an outage, like vLLM's.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import SGLANG_E2E_SECONDS, SGLANG_QUEUE_SECONDS, SGLANG_TTFT_SECONDS
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.counters import CounterBank, HistogramBank
from attribution.sim.exposition import Family, HistogramRows, Rows, format_labels, python_float
from attribution.sim.workload import FloatArray, IntArray

GAUGES: tuple[tuple[str, str], ...] = (
    ("sglang:num_running_reqs", "The number of running requests."),
    ("sglang:num_queue_reqs", "The number of requests in the waiting queue."),
    ("sglang:token_usage", "The token usage."),
    ("sglang:num_used_tokens", "The number of used tokens."),
    ("sglang:max_total_num_tokens", "Maximum total number of tokens in the KV cache pool."),
)
TOKENIZER_COUNTERS: tuple[tuple[str, str], ...] = (
    ("sglang:prompt_tokens", "Number of prefill tokens processed."),
    ("sglang:generation_tokens", "Number of generation tokens processed."),
    ("sglang:num_requests", "Number of requests processed."),
)
RETRACTED = ("sglang:num_retracted_requests", "Total number of retracted requests.")
HISTOGRAMS: tuple[tuple[str, str, tuple[float, ...], bool], ...] = (
    ("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
     SGLANG_TTFT_SECONDS, True),
    ("sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds",
     SGLANG_E2E_SECONDS, True),
    ("sglang:queue_time_seconds", "Histogram of queueing time in seconds.", SGLANG_QUEUE_SECONDS, False),
)  # fmt: skip


class SglangBuilder:
    def __init__(self, context: SimContext, pool_index: int, target: int) -> None:
        self.context, self.p, self.target = context, pool_index, target
        self.pool = pool = context.spec.pools[pool_index]
        model = pool.served_model_name
        self.scheduler = format_labels(
            (("model_name", model), ("engine_type", "unified"), ("tp_rank", "0"), ("pp_rank", "0"),
             ("moe_ep_rank", "0"))
        )  # fmt: skip
        self.tokenizer = format_labels((("model_name", model), ("engine_type", "unified")))
        self.scheduler_labels = [self.scheduler]
        self.streaming_labels = [f'{self.tokenizer},is_streaming="true"']
        self.one_target = [target]
        self.crashes = [o.at_seconds for o in pool.outages]
        self.banks = {name: CounterBank() for name, _ in (*TOKENIZER_COUNTERS, RETRACTED)}
        self.histograms = {name: HistogramBank(bounds) for name, _, bounds, _ in HISTOGRAMS}
        self.les = {name: [python_float(b) for b in bounds] + ["+Inf"] for name, _, bounds, _ in HISTOGRAMS}

    def families(self, chunk: Chunk) -> list[Family]:
        p, s = self.p, chunk.scrapes
        present = chunk.engine_up[p : p + 1]
        resets = [t for t in self.crashes if chunk.begin <= t < chunk.end]
        used = chunk.blocks[p : p + 1] * self.pool.block_size
        capacity = self.pool.kv_capacity_tokens
        gauges: dict[str, IntArray | FloatArray] = {
            "sglang:num_running_reqs": chunk.running[p : p + 1],
            "sglang:num_queue_reqs": chunk.waiting[p : p + 1],
            "sglang:token_usage": used / float(capacity),
            "sglang:num_used_tokens": used,
            "sglang:max_total_num_tokens": np.full((1, s.size), capacity, dtype=np.int64),
        }
        families = [
            Family(
                name,
                "gauge",
                text,
                [Rows(name, self.scheduler_labels, self.one_target, gauges[name], None, present)],
            )
            for name, text in GAUGES
        ]
        done = chunk.completions
        mine = done.pool == p
        finish = done.finish[mine]
        zeros = np.zeros(finish.size, dtype=np.int64)
        weights: dict[str, FloatArray | None] = {
            "sglang:prompt_tokens": done.prompt[mine].astype(np.float64),
            "sglang:generation_tokens": done.output[mine].astype(np.float64),
            "sglang:num_requests": None,
        }
        for name, text in TOKENIZER_COUNTERS:
            values = self.banks[name].values(s, finish, zeros, 1, weights[name], resets)
            families.append(self._counter(name, text, self.streaming_labels, values, present))
        retracted = chunk.preemption_time[chunk.preemption_pool == p]
        values = self.banks[RETRACTED[0]].values(
            s, retracted, np.zeros(retracted.size, np.int64), 1, None, resets
        )
        families.append(self._counter(RETRACTED[0], RETRACTED[1], self.scheduler_labels, values, present))
        if self.context.include_histograms:
            first = chunk.first_token_pool == p
            observed = {  # (when observed, value): TTFT at the first token, the others at finish
                "sglang:time_to_first_token_seconds": (
                    chunk.first_token_time[first],
                    chunk.first_token_ttft[first],
                ),
                "sglang:e2e_request_latency_seconds": (finish, finish - done.arrival[mine]),
                "sglang:queue_time_seconds": (finish, done.first_scheduled[mine] - done.arrival[mine]),
            }
            for name, text, _, streaming in HISTOGRAMS:
                when, value = observed[name]
                rows = np.zeros(when.size, dtype=np.int64)
                cumulative, sums = self.histograms[name].values(s, when, rows, 1, value, resets)
                labels = self.streaming_labels if streaming else self.scheduler_labels
                histogram = HistogramRows(
                    name, labels, self.one_target, self.les[name], cumulative, sums, None, present
                )
                families.append(Family(name, "histogram", text, [histogram]))
        return families

    def _counter(
        self, name: str, text: str, labels: list[str], values: np.ndarray, present: np.ndarray
    ) -> Family:
        ints = np.rint(values).astype(np.int64)
        return Family(
            name, "counter", text, [Rows(f"{name}_total", labels, self.one_target, ints, None, present)]
        )
