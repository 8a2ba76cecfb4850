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
from attribution.store.tables import AttributedCost, PoolCost, RecoveryIncident
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)

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


def _recovery_by_tenant(factory: sessionmaker[Session]) -> dict[str, int]:
    a = AttributedCost
    with factory() as session:
        rows = session.execute(select(a.tenant, func.sum(a.recovery_usd_micros)).group_by(a.tenant)).all()
    return {tenant: int(amount) for tenant, amount in rows if amount}


@pytest.mark.parametrize("dialect", ["sqlite_factory", "pg_factory"])
@pytest.mark.parametrize("policy", ["platform", "share"])
def test_the_lines_recovery_is_the_incidents_cost_under_either_policy(
    dialect: str, policy: str, request: pytest.FixtureRequest
) -> None:
    """Tenants a and b serve every minute but the engine's absences (and c is counted in minute 11 although
    the engine gave no sample: gateway token-seconds mean served, so minute 11 is no incident). The lines'
    recovery is the incidents' cost exactly: on ``__recovery__`` by default, on tenants under ``share``."""
    factory: sessionmaker[Session] = request.getfixturevalue(dialect)
    _load(factory)
    usage = [
        create_usage_row(m, t, "0-4k", s)
        for m in range(120)
        if m not in DOWN
        for t, s in (("a", 30.0), ("b", 10.0))
    ]
    store(factory, [], [], [*usage, create_usage_row(11, "c", "0-4k", 5.0)])
    run_attribution(small_cluster_settings(policies={"recovery": policy}), factory, T0, END)
    incidents = _stored(factory)
    assert (T0 + timedelta(minutes=10), T0 + timedelta(minutes=11)) in [(s, e) for _, s, e, *_ in incidents]
    cost = sum(c for *_, c in incidents)
    by_tenant = _recovery_by_tenant(factory)
    assert sum(by_tenant.values()) == cost > 0
    if policy == "platform":
        assert by_tenant == {"__recovery__": cost}
    else:
        # by the settlement hour's non-idle cost: c served minute 11, in the first hour, so it shares too
        assert set(by_tenant) == {"a", "b", "c"} and by_tenant["a"] > by_tenant["b"] > by_tenant["c"]


def test_each_idle_kind_follows_its_policy_in_the_job(sqlite_factory: sessionmaker[Session]) -> None:
    """Warm idle kept on ``__idle__`` (the pool's own setting), headroom shared by the cluster's, cold
    kept by ``policies.idle_cold``: each kind lands only where its policy sends it."""
    # a serves the even minutes; the odd ones nobody used (the engine shows no work): warm
    kv = create_kv_rows(120, [0.2 if m % 2 == 0 else 0.0 for m in range(120)])
    usage = [create_usage_row(m, "a", "0-4k", 30.0) for m in range(0, 120, 2)]
    store(sqlite_factory, create_gpu_rows(120), kv, usage)
    pools = [{**small_cluster_settings().pools[0].model_dump(), "idle_warm_policy": "separate"}]
    settings = small_cluster_settings(pools=pools, policies={"idle_cold": "separate", "kv_headroom": "share"})
    run_attribution(settings, sqlite_factory, T0, END)
    a = AttributedCost
    with sqlite_factory() as session:
        rows = session.execute(
            select(
                a.tenant,
                func.sum(a.idle_cold_usd_micros),
                func.sum(a.idle_warm_usd_micros),
                func.sum(a.kv_headroom_usd_micros),
            ).group_by(a.tenant)
        ).all()
    kinds = {t: (int(c), int(w), int(h)) for t, c, w, h in rows}
    assert kinds["a"][0] == kinds["a"][1] == 0 < kinds["a"][2]
    assert kinds["__idle__"][0] > 0 and kinds["__idle__"][1] > 0 and kinds["__idle__"][2] == 0
