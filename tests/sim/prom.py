"""Query helpers for the simulator's Prometheus tests; starting, stopping and backfilling is
:mod:`attribution.localprom`'s (``create_blocks`` is re-exported for the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from attribution.errors import AttributionError
from attribution.localprom import LocalPrometheus, binaries, create_blocks, free_port_run

__all__ = ["create_blocks", "free_port_run"]


def binaries_missing() -> str | None:
    """Why the Prometheus tests cannot run, or None when both binaries are installed."""
    try:
        binaries()
    except AttributionError as exc:
        return str(exc)
    return None


@contextmanager
def running_prometheus(data_dir: Path, work_dir: Path, config_text: str | None = None) -> Iterator[str]:
    """Start Prometheus on ``data_dir`` (scraping nothing unless ``config_text`` says so); yield its base
    URL once ready. ``work_dir`` is kept for the callers; the config and log go beside ``data_dir``."""
    with LocalPrometheus(data_dir, config_text=config_text) as prom:
        yield prom.url


def query(base_url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    """``/api/v1/query`` (now) as (labels, value) per series."""
    response = requests.post(f"{base_url}/api/v1/query", data={"query": promql}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]


def query_range(
    base_url: str, query: str, start: int, end: int, step: int
) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """``/api/v1/query_range`` as (labels, [(unix seconds, value)]) per series."""
    response = requests.post(
        f"{base_url}/api/v1/query_range",
        data={"query": query, "start": start, "end": end, "step": step},
        timeout=60,
    )
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return [
        (item["metric"], [(int(float(t)), float(v)) for t, v in item["values"]])
        for item in body["data"]["result"]
    ]
