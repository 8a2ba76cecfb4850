"""vLLM V1 (0.33.0) engine series, one engine per pool.

Names, types and labels follow /work/shared/reference/telemetry-sources.md sections 1.2-1.6: engine series
carry ``model_name`` (served name) and ``engine``; ``vllm:cache_config_info`` carries ``engine`` and
its config labels but no ``model_name``. Scrape adds ``job``, ``instance``, ``namespace``, ``pod``.

Simplifications (docs/simulator.md): token counters are credited when a request finishes (vLLM counts
prompt tokens at the first token and generation tokens per step), so engine and gateway counters agree
exactly at every scrape; TTFT is observed at the first token, the other per-request histograms at
finish, as vLLM does. No preemptions, aborts, errors or repetition stops happen in this first cut; their
series exist at 0 because vLLM creates every ``finished_reason`` child at start-up.
"""

from __future__ import annotations

import numpy as np

from attribution.sim.buckets import (
    REQUEST_LATENCY_SECONDS,
    TIME_TO_FIRST_TOKEN_SECONDS,
    request_tokens_buckets,
)
from attribution.sim.integrate import cumulative_events, cumulative_histogram
from attribution.sim.openmetrics import Family, Labels, Series, histogram_series
from attribution.sim.scenario import PoolSpec
from attribution.sim.timeline import PoolLoad, SimRun
from attribution.sim.workload import FloatArray, IntArray

VLLM_PORT = 8000
ENGINE = "0"
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")


def engine_pod(pool: PoolSpec) -> str:
    return f"{pool.name}-0"


def _target_labels(run: SimRun, pool: PoolSpec) -> Labels:
    pod = engine_pod(pool)
    return (
        ("job", "vllm"),
        ("instance", f"{pod}:{VLLM_PORT}"),
        ("namespace", run.spec.namespace),
        ("pod", pod),
    )


def _engine_labels(run: SimRun, pool: PoolSpec) -> Labels:
    return (("model_name", pool.served_model_name), ("engine", ENGINE), *_target_labels(run, pool))


def _counter(values: FloatArray) -> IntArray:
    return np.rint(values).astype(np.int64)


def vllm_families(run: SimRun, load: PoolLoad) -> list[Family]:
    """All vLLM families, each holding one series (or one histogram) per engine."""
    pools = run.spec.pools
    labels = [_engine_labels(run, pool) for pool in pools]

    def gauge(name: str, help_text: str, rows: IntArray | FloatArray) -> Family:
        series = tuple(Series(name, labels[p], rows[p]) for p in range(len(pools)))
        return Family(name, "gauge", help_text, series)

    families = [
        gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            load.running,
        ),
        gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            load.waiting,
        ),
        gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            load.kv_usage,
        ),
        _cache_config_family(run),
        *_counter_families(run, labels),
    ]
    if run.include_histograms:
        families.extend(_histogram_families(run, labels))
    return families


def _cache_config_family(run: SimRun) -> Family:
    ones = np.ones(run.n_scrapes, dtype=np.int64)
    series = []
    for pool in run.spec.pools:
        config: Labels = (
            ("block_size", str(pool.block_size)),
            ("cache_dtype", pool.cache_dtype),
            ("enable_prefix_caching", "True"),
            ("engine", ENGINE),
            ("gpu_memory_utilization", str(pool.gpu_memory_utilization)),
            ("kv_cache_size_tokens", str(pool.kv_capacity_tokens)),
            ("num_cpu_blocks", "None"),
            ("num_gpu_blocks", str(pool.num_gpu_blocks)),
        )
        series.append(Series("vllm:cache_config_info", (*config, *_target_labels(run, pool)), ones))
    return Family(
        "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig", tuple(series)
    )


def _counter_families(run: SimRun, labels: list[Labels]) -> list[Family]:
    req, t = run.requests, run.scrape_seconds
    zeros = np.zeros(run.n_scrapes, dtype=np.int64)
    preemptions, prompt, generation, success = [], [], [], []
    for p in range(len(run.spec.pools)):
        mine = req.pool == p
        finish = req.finish_seconds[mine]
        preemptions.append(Series("vllm:num_preemptions_total", labels[p], zeros))
        prompt_w = req.prompt_tokens[mine].astype(np.float64)
        output_w = req.output_tokens[mine].astype(np.float64)
        prompt.append(
            Series(
                "vllm:prompt_tokens_total",
                labels[p],
                _counter(cumulative_events(finish, t, prompt_w)),
            )
        )
        generation.append(
            Series(
                "vllm:generation_tokens_total",
                labels[p],
                _counter(cumulative_events(finish, t, output_w)),
            )
        )
        capped = req.length_capped[mine]
        by_reason = {"stop": finish[~capped], "length": finish[capped]}
        for reason in FINISHED_REASONS:
            values = _counter(cumulative_events(by_reason[reason], t)) if reason in by_reason else zeros
            reason_labels = (*labels[p][:2], ("finished_reason", reason), *labels[p][2:])
            success.append(Series("vllm:request_success_total", reason_labels, values))
    return [
        Family(
            "vllm:num_preemptions",
            "counter",
            "Cumulative number of preemption from the engine.",
            tuple(preemptions),
        ),
        Family("vllm:prompt_tokens", "counter", "Number of prefill tokens processed.", tuple(prompt)),
        Family(
            "vllm:generation_tokens",
            "counter",
            "Number of generation tokens processed.",
            tuple(generation),
        ),
        Family(
            "vllm:request_success",
            "counter",
            "Count of successfully processed requests.",
            tuple(success),
        ),
    ]


def _histogram_families(run: SimRun, labels: list[Labels]) -> list[Family]:
    """Per-request histograms with vLLM 0.33.0's buckets; token buckets depend on max_model_len."""
    req, t = run.requests, run.scrape_seconds
    specs: list[tuple[str, str]] = [
        ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."),
        (
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
        ),
        ("vllm:request_prompt_tokens", "Number of prefill tokens processed."),
        ("vllm:request_generation_tokens", "Number of generation tokens processed."),
        ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds."),
    ]
    collected: dict[str, list[Series]] = {name: [] for name, _ in specs}
    for p, pool in enumerate(run.spec.pools):
        mine = req.pool == p
        arrival, finish = req.arrival_seconds[mine], req.finish_seconds[mine]
        first_token = req.prefill_end_seconds[mine]
        tokens_bounds = request_tokens_buckets(pool.max_model_len)
        observations: dict[str, tuple[FloatArray, FloatArray, tuple[float, ...]]] = {
            specs[0][0]: (finish, finish - arrival, REQUEST_LATENCY_SECONDS),
            specs[1][0]: (finish, req.admit_seconds[mine] - arrival, REQUEST_LATENCY_SECONDS),
            specs[2][0]: (finish, req.prompt_tokens[mine].astype(np.float64), tokens_bounds),
            specs[3][0]: (finish, req.output_tokens[mine].astype(np.float64), tokens_bounds),
            specs[4][0]: (first_token, first_token - arrival, TIME_TO_FIRST_TOKEN_SECONDS),
        }
        for name, (when, value, bounds) in observations.items():
            cumulative, sums = cumulative_histogram(when, value, bounds, t)
            collected[name].extend(histogram_series(name, labels[p], bounds, cumulative, sums))
    return [Family(name, "histogram", help_text, tuple(collected[name])) for name, help_text in specs]
