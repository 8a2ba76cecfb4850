"""``attribution report efficiency`` and ``report what-if`` on the embedded SQLite database: three days of
the report tests' history, attributed; the same figures as the report functions, and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from attribution.cli import app, main
from attribution.ledger.attribute import run_attribution
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import PoolCost
from tests.support.billing_history import hourly_settings, load
from tests.support.cli_configs import HOURLY_CONFIG as CONFIG

runner = CliRunner()
START = datetime(2026, 11, 2, tzinfo=UTC)
WINDOW = ["--pool", "small", "--start", "2026-11-02T00:00:00Z", "--end", "2026-11-05T00:00:00Z"]


@pytest.fixture
def sqlite_days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    db = tmp_path / "insights.db"
    config = tmp_path / "attribution.toml"
    config.write_text(CONFIG.format(db=db) + 'max_num_seqs = 16\ntarget_occupancy = "0.5"\n')
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(f"sqlite:///{db}")
    factory = make_sessionmaker(engine)
    load(factory, START, 72)
    run_attribution(
        hourly_settings(database_url=f"sqlite:///{db}"), factory, START, START + timedelta(days=3)
    )
    yield engine
    engine.dispose()


def test_efficiency_json_per_day(sqlite_days: Engine) -> None:
    result = runner.invoke(app, ["report", "efficiency", *WINDOW, "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["max_num_seqs"], body["target_occupancy"]) == (16, "0.5")
    assert [d["start"][:10] for d in body["days"]] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    with make_sessionmaker(sqlite_days)() as session:
        cost = session.execute(select(func.sum(PoolCost.cost_usd_micros))).scalar_one()
    assert sum(d["cost_usd_micros"] for d in body["days"]) == body["structure"]["cost_usd_micros"] == cost
    # builders' engines run 3 requests whenever they hold KV: 3 of 16 is below the 0.5 target
    assert all(0 < d["headroom_usd_micros"] < d["cost_usd_micros"] for d in body["days"])
    table = runner.invoke(app, ["report", "efficiency", *WINDOW])
    assert table.exit_code == 0 and "cost structure" in table.output and "2026-11-04" in table.output


def test_what_if_table_and_one_line_errors(
    sqlite_days: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = runner.invoke(app, ["report", "what-if", *WINDOW, "--replicas", "2", "--kv-dtype", "auto"])
    assert result.exit_code == 0, result.output
    assert "4 x H100-SXM (tp 2 x 2)" in result.output and "assumes" in result.output
    monkeypatch.setattr("sys.argv", ["attribution", "report", "what-if", *WINDOW, "--gpu-type", "B200"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid_what_if" in err and "'B200' has no price in gpu_prices" in err
    assert "Traceback" not in err
