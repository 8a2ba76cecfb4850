"""The service's own metrics follow the Prometheus naming conventions, as promtool's linter checks them
(counters end in ``_total``, units as suffixes, no ``_count``/``_sum`` outside summaries and histograms)."""

from __future__ import annotations

import subprocess

import pytest

from attribution.localprom import binaries
from tests.support.service_metrics import api_exposition, scheduler_exposition


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
