"""The Prometheus text exposition format (0.0.4) of one target at one instant, as its exporter writes it.

prometheus_client exporters (vLLM, SGLang, LiteLLM, our gateway) name a counter's ``# HELP``/``# TYPE`` lines
with ``_total`` and spell numbers ``1.0``; client_golang exporters (dcgm-exporter, the OpenTelemetry
collector) use the metric name as is and spell numbers ``1``. No timestamps, no ``_created`` series
(prometheus_client's ``_created`` gauges are left out; see docs/simulator.md). Only exporter labels appear:
Prometheus adds ``job``, ``instance`` and the target labels from its scrape configuration.
"""

from __future__ import annotations

from collections.abc import Callable

from attribution.sim.exposition import Family, HistogramRows, Rows, escape_help, go_float, python_float

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Jobs whose exporter is written in Go (client_golang conventions).
GO_JOBS = frozenset({"dcgm-exporter", "otel-collector"})


def render_targets(families: list[Family], jobs: list[str]) -> list[str]:
    """Each target's exposition (by target index) from a chunk's families, read at the chunk's first scrape
    (live chunks have exactly one). A target with no present sample gets an empty string."""
    parts: list[dict[str, list[str]]] = [{} for _ in jobs]
    heads: list[dict[str, str]] = [{} for _ in jobs]
    for family in families:
        for rows in family.rows:
            for plain in rows.expand() if isinstance(rows, HistogramRows) else [rows]:
                _add(plain, family, jobs, parts, heads)
    texts = []
    for t in range(len(jobs)):
        lines = []
        for name, samples in parts[t].items():
            lines.append(heads[t][name])
            lines.extend(samples)
        texts.append("".join(lines))
    return texts


def _add(
    rows: Rows,
    family: Family,
    jobs: list[str],
    parts: list[dict[str, list[str]]],
    heads: list[dict[str, str]],
) -> None:
    integral = rows.values.dtype.kind in "iu"
    for k, s in enumerate(rows.series()):
        if rows.present is not None and not rows.present[k, 0]:
            continue
        t = rows.targets[s]
        go = jobs[t] in GO_JOBS
        if family.name not in heads[t]:
            heads[t][family.name] = _head(family, go)
            parts[t][family.name] = []
        number: Callable[[float], str] = go_float if go else python_float
        value = rows.values[k, 0]
        text = number(float(value)) if not (integral and go) else str(int(value))
        labels = rows.labels[s]
        parts[t][family.name].append(
            f"{rows.sample_name}{{{labels}}} {text}\n" if labels else f"{rows.sample_name} {text}\n"
        )


def _head(family: Family, go: bool) -> str:
    name = family.name if go or family.kind != "counter" else f"{family.name}_total"
    return f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.kind}\n"
