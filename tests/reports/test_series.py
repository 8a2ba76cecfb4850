"""The charts' time series agree with the bill they illustrate, computed from other tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attribution.model.statement import USAGE
from attribution.reports.monthly import build_statement_report
from attribution.reports.series import build_series
from tests.support.billing_history import DEC_DAYS, History

GIB_HOUR = 1024**3 * 3600


def test_idle_share_memory_time_and_utilisation_per_day(history: History) -> None:
    """Idle share comes from pool and cluster costs; the statement's idle component from the lines. Idle
    cost is only moved between lines, never across days, so each day's two figures agree."""
    with history.factory() as session:
        report = build_statement_report(session, history.settings, "2026-12")
    series = report.series
    days = [r for r in report.daily if r.key[0].startswith("2026-12")]
    assert series.bucket == "day" and series.labels == [r.key[0] for r in days]
    assert len(series.labels) == DEC_DAYS
    for day, share in zip(days, series.idle_share_percent, strict=True):
        assert share == pytest.approx(100 * day.component_usd_micros[2] / day.total_usd_micros, rel=1e-9)
        assert share > 25  # one of the four GPUs paid for serves no pool
    assert series.gpu_util_percent == [50.0] * DEC_DAYS  # what the builders' dcgm rows report
    assert all(v is not None and 0 < v < 100 for v in series.kv_usage_percent)
    held = sum(x.kv_byte_seconds for x in report.lines if x.charge_class == USAGE) / GIB_HOUR
    assert sum(sum(v) for v in series.memory_gib_hours_by_tier.values()) == pytest.approx(held, rel=1e-9)
    assert list(series.memory_gib_hours_by_tier) == history.settings.tiers.names


def test_a_short_period_is_drawn_by_the_hour(history: History) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with history.factory() as session:
        series = build_series(session, start, datetime(2026, 12, 2, tzinfo=UTC), None, ["0-4k"])
    assert series.bucket == "hour" and len(series.labels) == 24
