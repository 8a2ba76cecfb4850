"""``attribution collect``: a backfill with a progress bar, idempotent; ``status`` and ``coverage``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attribution.collectors.cli import collect_app
from attribution.localprom import LocalPrometheus
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
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
    for collector in ("gpu", "kv", "gateway"):
        assert any(
            line.split("│")[1:5] and collector in line and "present" in line and "30" in line
            for line in coverage.output.splitlines()
        ), coverage.output
    # per pool, where its engines worked: the simulated gateway (native contract) covers every interval
    pools = [line for line in coverage.output.splitlines() if "(engine working)" in line]
    assert pools and all("present" in line for line in pools), coverage.output
    status = runner.invoke(collect_app, ["status"])
    assert status.exit_code == 0  # a backfill moves no watermark: the table is empty
    assert "collector" in status.output and "prometheus" not in status.output


def test_start_and_end_are_required_without_a_subcommand(configured: str) -> None:
    result = CliRunner().invoke(collect_app, ["--start", START.isoformat()])
    assert result.exit_code != 0
    assert "give --start and --end" in result.output
