"""The service's own metrics follow the Prometheus naming conventions, as promtool's linter checks them
(counters end in ``_total``, units as suffixes, no ``_count``/``_sum`` outside summaries and histograms)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from attribution.api.metrics import ApiMetrics
from attribution.localprom import binaries
from attribution.scheduler.outcome import RunOutcome
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


def lint(exposition: str) -> str:
    _, promtool = binaries()
    out = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, check=False
    )
    return (out.stdout + out.stderr).strip()


def test_promtool_finds_a_misnamed_counter() -> None:
    """The linter is real: the scheduler's old summary, two counters named ``_sum``/``_count``, fails."""
    old = "# HELP run_seconds_count Runs.\n# TYPE run_seconds_count counter\nrun_seconds_count 2\n"
    assert '"_total" suffix' in lint(old)


@pytest.mark.parametrize("exposition", [scheduler_exposition, api_exposition], ids=["scheduler", "api"])
def test_the_service_metrics_pass_promtools_linter(exposition: object) -> None:
    text = exposition()  # type: ignore[operator]
    assert "# TYPE attribution_" in text
    assert lint(text) == ""


def test_the_run_duration_is_one_summary_family() -> None:
    text = scheduler_exposition()
    assert "# TYPE attribution_collector_run_duration_seconds summary" in text
    assert 'attribution_collector_run_duration_seconds_sum{collector="gpu",source="prom"} 1.0' in text
    assert 'attribution_collector_run_duration_seconds_count{collector="gpu",source="prom"} 2.0' in text
