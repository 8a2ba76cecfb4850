"""The attribution job records recovery incidents, on SQLite and Postgres alike; the CLI lists them.

Two hours of pool ``small`` (2 GPUs) whose engine has no KV sample in minutes 10-11, 58-62 (across the
hour boundary, so across two attribution windows) and 70-74, while dcgm samples its GPUs throughout.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.cli import app
from attribution.ledger.attribute import run_attribution
from attribution.reports.incidents import incident_list
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import PoolCost, RecoveryIncident
from tests.builders import T0, create_gpu_rows, create_kv_rows, small_cluster_settings, store

DOWN = {*range(10, 12), *range(58, 63), *range(70, 75)}
END = T0 + timedelta(hours=2)


def _load(factory: sessionmaker[Session]) -> None:
    kv = [
        r
        for r in create_kv_rows(120, 0.2)
        if int((r["interval_start"] - T0).total_seconds()) // 60 not in DOWN
    ]
    store(factory, create_gpu_rows(120), kv, [])


def _stored(factory: sessionmaker[Session]) -> list[tuple[object, ...]]:
    r = RecoveryIncident
    with factory() as session:
        query = select(r.pool, r.start_at, r.end_at, r.cause, r.gpu_count, r.cost_usd_micros).order_by(
            r.start_at
        )
        return [tuple(row) for row in session.execute(query)]


@pytest.mark.parametrize("dialect", ["sqlite_factory", "pg_factory"])
def test_incidents_are_recorded_with_their_cost_and_replaced_on_re_run(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    factory: sessionmaker[Session] = request.getfixturevalue(dialect)
    _load(factory)
    settings = small_cluster_settings()
    run_attribution(settings, factory, T0, END)
    first = _stored(factory)
    minute = timedelta(minutes=1)
    assert [(start, end) for _, start, end, *_ in first] == [
        (T0 + 10 * minute, T0 + 12 * minute),
        (T0 + 58 * minute, T0 + 60 * minute),  # the part in the first hour's window
        (T0 + 60 * minute, T0 + 63 * minute),
        (T0 + 70 * minute, T0 + 75 * minute),
    ]
    assert {(pool, cause, gpus) for pool, _, _, cause, gpus, _ in first} == {("small", "engine_absent", 2)}
    with factory() as session:
        for _, start, end, _, _, cost in first:
            where = (
                PoolCost.pool == "small",
                PoolCost.interval_start >= start,
                PoolCost.interval_start < end,
            )
            assert cost == session.scalar(select(func.sum(PoolCost.cost_usd_micros)).where(*where))
        joined = incident_list(session, T0, END).incidents
    assert [(v.start, v.end) for v in joined] == [
        (T0 + 10 * minute, T0 + 12 * minute),
        (T0 + 58 * minute, T0 + 63 * minute),
        (T0 + 70 * minute, T0 + 75 * minute),
    ]
    assert joined[1].cost_usd_micros == first[1][5] + first[2][5]
    run_attribution(settings, factory, T0, END)
    run_attribution(settings, factory, T0 + timedelta(hours=1), END)
    assert _stored(factory) == first


def test_the_cli_lists_incidents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "cli.db"
    config = tmp_path / "attribution.toml"
    settings = small_cluster_settings(database_url=f"sqlite:///{db}")
    config.write_text(
        f'database_url = "sqlite:///{db}"\ninventory = {{ "H100-SXM" = 4 }}\n\n'
        '[[gpu_prices]]\ngpu_type = "H100-SXM"\nusd_per_gpu_hour = "2.99"\n\n'
        '[[pools]]\nname = "small"\nmodel = "mistral-small-24b"\n'
        f'served_model_name = "{settings.pools[0].served_model_name}"\n'
        'tensor_parallel_size = 2\ngpu_selector = { pod = "small-.*" }\n'
    )
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(f"sqlite:///{db}")
    _load(make_sessionmaker(engine))
    engine.dispose()
    window = ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-02T02:00:00Z"]
    assert runner.invoke(app, ["attribute", *window]).exit_code == 0
    result = runner.invoke(app, ["report", "incidents", *window, "--pool", "small", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert [i["start"] for i in body["incidents"]] == [
        "2026-11-02T00:10:00Z",
        "2026-11-02T00:58:00Z",
        "2026-11-02T01:10:00Z",
    ]
    assert body["total_cost_usd_micros"] == sum(i["cost_usd_micros"] for i in body["incidents"]) > 0
    result = runner.invoke(app, ["report", "incidents", *window])
    assert result.exit_code == 0, result.output
    assert "3 incident(s)" in result.output


def test_a_run_starting_inside_an_incident_leaves_no_overlap(sqlite_factory: sessionmaker[Session]) -> None:
    """Settled per interval with lines per interval, a run may start on any minute: inside an incident."""
    _load(sqlite_factory)
    settings = small_cluster_settings(policies={"settlement_window": "interval"}, line_grain_seconds=60)
    run_attribution(settings, sqlite_factory, T0, END)
    with sqlite_factory() as session:
        whole = incident_list(session, T0, END).incidents
    run_attribution(settings, sqlite_factory, T0 + timedelta(minutes=72), END)
    with sqlite_factory() as session:
        assert incident_list(session, T0, END).incidents == whole
    assert [(v.start, v.end) for v in whole][-1] == (T0 + timedelta(minutes=70), T0 + timedelta(minutes=75))
