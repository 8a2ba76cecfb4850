"""``attribution collect``: a backfill with a progress bar, idempotent; ``status`` and ``coverage``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attribution.collectors.cli import collect_app
from attribution.localprom import LocalPrometheus
from attribution.store.collection_state import ensure_watermark, record_failure
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from tests.support.simulated import START, Simulated, collection_settings, snapshot

WINDOW = ["--start", START.isoformat(), "--end", (START + timedelta(minutes=30)).isoformat()]


@pytest.fixture
def configured(
    simulated: Simulated, sim_prometheus: LocalPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The demo cluster's settings in the environment (as an operator's deployment would set them)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    settings = collection_settings(simulated, url, sim_prometheus.url)
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for key, value in json.loads(settings.model_dump_json(exclude_defaults=True)).items():
        monkeypatch.setenv(
            f"ATTRIBUTION_{key.upper()}", value if isinstance(value, str) else json.dumps(value)
        )
    return url


def test_a_backfill_is_idempotent(configured: str) -> None:
    runner = CliRunner()
    first = runner.invoke(collect_app, WINDOW)
    assert first.exit_code == 0, first.output
    assert "gpu@prometheus, kv@prometheus, gateway@prometheus" in first.output
    assert "3 chunk(s)" in first.output
    factory = make_sessionmaker(make_engine(configured))
    before = snapshot(factory)
    assert runner.invoke(collect_app, WINDOW).exit_code == 0
    assert snapshot(factory) == before


def test_a_backfill_can_be_narrowed_to_a_collector(configured: str) -> None:
    result = CliRunner().invoke(collect_app, [*WINDOW, "--collector", "gpu"])
    assert result.exit_code == 0, result.output
    assert "gpu@prometheus:" in result.output and "kv@" not in result.output


def test_coverage_and_status(configured: str) -> None:
    runner = CliRunner()
    runner.invoke(collect_app, WINDOW)
    coverage = runner.invoke(collect_app, ["coverage", *WINDOW])
    assert coverage.exit_code == 0, coverage.output
    rows = [line.split() for line in coverage.output.splitlines()]
    assert rows[0] == ["collector", "source", "present", "estimated", "missing", "unplaced", "not_collected"]
    for collector in ("gpu", "kv", "gateway"):
        assert [collector, "prometheus", "30", "0", "0", "0", "0"] in rows, coverage.output
    # per pool, where its engines worked: the simulated gateway (native contract) covers every interval
    pools = [row for row in rows if row[1].startswith("pool:")]
    assert pools and all(row[2] != "0" and row[4] == "0" for row in pools), coverage.output
    assert "0 of 30 intervals attributed; complete: no" in coverage.output
    as_json = json.loads(runner.invoke(collect_app, ["coverage", *WINDOW, "--format", "json"]).output)
    assert as_json["intervals_in_window"] == 30 and as_json["complete"] is False
    assert {(x["collector"], x["present"], x["not_collected"]) for x in as_json["sources"]} == {
        ("gpu", 30, 0),
        ("kv", 30, 0),
        ("gateway", 30, 0),
    }
    status = runner.invoke(collect_app, ["status"])
    assert status.exit_code == 0  # a backfill moves no watermark: only the header
    assert status.output.split() == [
        "collector",
        "source",
        "watermark",
        "lag_seconds",
        "last_success_at",
        "consecutive_failures",
        "last_error",
    ]
    assert json.loads(runner.invoke(collect_app, ["status", "--format", "json"]).output)["watermarks"] == []


def test_status_is_never_cut_at_the_terminal_width(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As under ``kubectl exec`` without a terminal: 80 columns. The whole error is on its row."""
    monkeypatch.setenv("COLUMNS", "80")
    factory = make_sessionmaker(make_engine(configured))
    error = "source prometheus unavailable after 4 attempts: " + "connection refused " * 8 + "END"
    with unit_of_work(factory) as session:
        ensure_watermark(session, "gateway", "prometheus", START, START)
        record_failure(session, "gateway", "prometheus", error, START)
    result = CliRunner().invoke(collect_app, ["status"])
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[1]
    assert row.startswith("gateway") and row.endswith("END") and len(row) > 200, result.output


def test_a_backfill_that_ends_in_the_future_is_refused(configured: str) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    result = CliRunner().invoke(collect_app, ["--start", START.isoformat(), "--end", later.isoformat()])
    assert result.exit_code == 2
    assert "ends in the future" in result.output and "Traceback" not in result.output
    assert snapshot(make_sessionmaker(make_engine(configured)))["source_coverage"] == []


def test_start_and_end_are_required_without_a_subcommand(configured: str) -> None:
    result = CliRunner().invoke(collect_app, ["--start", START.isoformat()])
    assert result.exit_code != 0
    assert "give --start and --end" in result.output
