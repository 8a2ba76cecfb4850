"""The command line on the embedded default (SQLite): migrate, attribute, report; clear errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attribution.cli import app, cli_command, main
from attribution.store.session import make_engine, make_sessionmaker
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, store
from tests.support.cli_configs import CONFIG

runner = CliRunner()


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    config = tmp_path / "attribution.toml"
    config.write_text(CONFIG.format(db=db))
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    return db


def test_upgrade_attribute_and_report(configured: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{configured}")
    usage = [create_usage_row(m, "acme", "0-4k", 100_000.0) for m in range(60)]
    store(make_sessionmaker(engine), create_gpu_rows(60), create_kv_rows(60, 0.01), usage)
    engine.dispose()
    window = ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-02T01:00:00Z"]
    result = runner.invoke(app, ["attribute", *window])
    assert result.exit_code == 0, result.output
    assert "11.96 USD (11,960,000 micro-USD)" in result.output
    result = runner.invoke(app, ["report", "chargeback", *window, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total_cents"] == 1196
    result = runner.invoke(app, ["report", "chargeback", "--period", "2026-11", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["tenant"] for r in rows} == {"acme", "__unmeasured__"}
    assert sum(round(float(r["total_usd"]) * 100) for r in rows) == 1196
    result = runner.invoke(app, ["report", "chargeback", "--period", "2026-11"])
    assert result.exit_code == 0
    assert "acme" in result.output


def test_a_bad_config_exits_2_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "attribution.toml"
    config.write_text("interval_seconds = 7\n")
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    monkeypatch.setattr("sys.argv", ["attribution", "db", "upgrade"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "interval_seconds: Input should be greater than or equal to 10" in capsys.readouterr().err


def test_a_bad_window_exits_2(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "sys.argv", ["attribution", "attribute", "--start", "2026-11-02T01:00:00Z", "--end", "2026-11-02"]
    )
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "is not after start" in capsys.readouterr().err


def test_period_close_and_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "periods.db"
    config = tmp_path / "attribution.toml"
    config.write_text("interval_seconds = 3600\n" + CONFIG.format(db=db))
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    window = ["--start", "2026-11-01", "--end", "2026-12-01"]
    assert runner.invoke(app, ["attribute", *window]).exit_code == 0
    result = runner.invoke(app, ["period", "close", "2026-11", "--idempotency-key", "a"])
    assert result.exit_code == 0, result.output
    assert "2026-11 closed: 861120 cents" in result.output
    again = runner.invoke(app, ["period", "close", "2026-11", "--idempotency-key", "a"])
    assert "2026-11 was already closed" in again.output
    statement = json.loads(
        runner.invoke(app, ["report", "statement", "--period", "2026-11", "--format", "json"]).output
    )
    assert statement["status"] == "closed" and statement["total_cents"] == 861_120
    assert len(statement["content_hash"]) == 64
    (h100,) = statement["price_basis"]
    assert (h100["gpu_type"], h100["gpus"], h100["usd_micros"]) == ("H100-SXM", 4, 8_611_200_000)
    assert [(p["basis"], p["usd_per_gpu_hour"], p["parts"]) for p in h100["prices"]] == [
        ("on_demand", "2.990000", [])
    ]
    assert "2026-11  closed" in runner.invoke(app, ["period", "list"]).output
    monkeypatch.setattr("sys.argv", ["attribution", "period", "close", "2026-11", "--idempotency-key", "b"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "already closed" in capsys.readouterr().err


def test_help_lists_the_lazy_commands_as_they_are_without_importing_them() -> None:
    """``attribution --help`` imports no scheduler, collector, simulator, SQLAlchemy, numpy or settings;
    the placeholders it lists say what the real commands say."""
    code = (
        "import sys\n"
        "from attribution.cli import cli_command\n"
        "root = cli_command()\n"
        "root.main(['--help'], prog_name='attribution', standalone_mode=False)\n"
        "heavy = ('sqlalchemy', 'numpy', 'apscheduler', 'pydantic', 'fastapi', 'rich', 'attribution.sim',\n"
        "         'attribution.scheduler', 'attribution.collectors', 'attribution.config')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
    root = cli_command()
    placeholders = {name: root.loaded[name].get_short_help_str(200) for name in root.lazy}
    for name, short_help in placeholders.items():
        assert root.get_command(None, name).get_short_help_str(200) == short_help, name
