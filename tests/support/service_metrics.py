"""The service's own metric expositions, with a sample in every family (the naming and dashboard tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from attribution.api.metrics import ApiMetrics
from attribution.scheduler.collect_loop import RunOutcome
from attribution.scheduler.selfmetrics import CollectorMetrics

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def scheduler_exposition() -> str:
    """Every family of the scheduler's metrics, with samples."""
    metrics = CollectorMetrics(clock=lambda: T0 + timedelta(minutes=5))
    metrics.observe(RunOutcome("gpu", "prom", "failed", 0, 0, T0, "refused", "source_unavailable", 0.25))
    metrics.observe(RunOutcome("gpu", "prom", "ok", 2, 120, T0 + timedelta(minutes=4), None, None, 0.75))
    metrics.source_failure("prom", "source_unavailable")
    metrics.error("kv", "prom", "RuntimeError")
    return metrics.render()


def api_exposition() -> str:
    metrics = ApiMetrics()
    metrics.requests.labels("GET", "/v1/chargeback", "200").inc()
    metrics.duration.labels("GET", "/v1/chargeback").observe(0.02)
    metrics.window_reads.inc()
    return generate_latest(metrics.registry).decode()
