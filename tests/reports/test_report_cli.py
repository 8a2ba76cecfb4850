"""`attribution report statement` (html, xlsx, tenant) and `report tiers` on the embedded SQLite database,
and the analyst views on SQLite and on Postgres, checked against the lines they sum."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from attribution.cli import app, main
from attribution.ledger.attribute import run_attribution
from attribution.reports.xlsx import SHEETS
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost
from tests.support.billing_history import History, hourly_settings, load
from tests.support.cli_configs import HOURLY_CONFIG as CONFIG

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "pricing"
runner = CliRunner()


@pytest.fixture
def sqlite_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Three days of November on SQLite, attributed: the demo's database."""
    db = tmp_path / "reports.db"
    config = tmp_path / "attribution.toml"
    config.write_text(CONFIG.format(db=db))
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(f"sqlite:///{db}")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    factory = make_sessionmaker(engine)
    load(factory, start, 72)
    run_attribution(
        hourly_settings(database_url=f"sqlite:///{db}"), factory, start, start + timedelta(days=3)
    )
    yield engine
    engine.dispose()


def test_statement_as_html_and_xlsx(sqlite_history: Engine, tmp_path: Path) -> None:
    html_path, xlsx_path = tmp_path / "s.html", tmp_path / "s.xlsx"
    period = ["report", "statement", "--period", "2026-11"]
    result = runner.invoke(app, [*period, "--format", "html", "--out", str(html_path)])
    assert result.exit_code == 0, result.output
    assert f"wrote {html_path}" in result.output
    document = html_path.read_text()
    assert "PROVISIONAL" in document and document.count("<svg") == 5
    result = runner.invoke(app, [*period, "--format", "xlsx", "--tenant", "acme", "--out", str(xlsx_path)])
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(xlsx_path)
    assert tuple(workbook.sheetnames) == SHEETS  # no corrections billed in this period: no such sheet
    summary = {r[0]: r[1] for r in workbook["Summary"].iter_rows(values_only=True)}
    assert summary["scope"] == "acme" and summary["source"] == "attributed_costs"
    tenants = [r[0] for r in workbook["Tenants"].iter_rows(min_row=2, values_only=True)]
    assert tenants == ["acme", "total"]


def test_a_tenant_statement_shows_the_cluster_total_only_when_asked(
    sqlite_history: Engine, tmp_path: Path
) -> None:
    totals = []
    for extra in ([], ["--with-cluster-total"]):
        path = tmp_path / f"acme{len(extra)}.xlsx"
        args = ["report", "statement", "--period", "2026-11", "--format", "xlsx", "--tenant", "acme"]
        result = runner.invoke(app, [*args, *extra, "--out", str(path)])
        assert result.exit_code == 0, result.output
        summary = {r[0]: r[1] for r in openpyxl.load_workbook(path)["Summary"].iter_rows(values_only=True)}
        totals.append({k for k in summary if "every tenant" in k or "cluster cost" in k})
    # the month is not fully attributed: its cluster cost is "so far", never "the bill"
    assert totals[0] == set() and "statement total, every tenant (USD)" in totals[1]
    assert any(k.startswith("cluster cost so far (") and "not yet the bill" in k for k in totals[1])


def test_statement_json_for_one_tenant(sqlite_history: Engine) -> None:
    whole = json.loads(
        runner.invoke(app, ["report", "statement", "--period", "2026-11", "--format", "json"]).output
    )
    result = runner.invoke(
        app, ["report", "statement", "--period", "2026-11", "--tenant", "hooli", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    mine = json.loads(result.output)
    assert {x["tenant"] for x in mine["lines"]} == {"hooli"}
    assert mine["total_cents"] == sum(x["total_cents"] for x in whole["lines"] if x["tenant"] == "hooli")


def test_tiers_with_a_what_if(sqlite_history: Engine) -> None:
    args = ["report", "tiers", "--period", "2026-11", "--price-list", str(DEPLOY / "long-context-128k.toml")]
    result = runner.invoke(app, [*args, "--what-if", str(DEPLOY / "what-if-32k.toml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    compare = {row["tier"]: row for row in body["compare"]}
    # moving the threshold to 32k reprices the 32k-128k tier whole; the tiers below it do not change
    assert compare["32k-128k"]["what_if_revenue_cents"] > compare["32k-128k"]["revenue_cents"]
    assert compare["0-4k"]["what_if_revenue_cents"] == compare["0-4k"]["revenue_cents"]
    assert body["baseline"]["total"]["cost_cents"] == 4 * 299 * 72
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "Pricing tiers 2026-11 (provisional: period open)" in table.output
    assert "Subsidies between tiers" in table.output


def test_a_bad_price_list_exits_2_with_the_problem(
    sqlite_history: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[bands]]\nfrom_tokens = 0\ninput_usd_per_million = "-3"\noutput_usd_per_million = "1"\n')
    monkeypatch.setattr(
        "sys.argv", ["attribution", "report", "tiers", "--period", "2026-11", "--price-list", str(bad)]
    )
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid_price_list" in err and "bands.0.input_usd_per_million" in err


def lines_by_day(engine: Engine, key: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    with make_sessionmaker(engine)() as session:
        for start, k, total in session.execute(
            select(
                AttributedCost.interval_start, getattr(AttributedCost, key), AttributedCost.total_usd_micros
            )
        ):
            out[(start.date().isoformat(), str(k))] += int(total)
    return dict(out)


def view_rows(engine: Engine, view: str, key: str) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT day, {key}, total_usd_micros, memory_gib_hours FROM {view}")).all()
    assert all(r[3] >= 0 for r in rows)
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


@pytest.mark.parametrize(
    ("view", "key"),
    [("daily_tenant_costs", "tenant"), ("daily_tier_costs", "tier"), ("daily_pool_costs", "pool")],
)
def test_analyst_views_are_the_lines_by_utc_day_on_sqlite_and_postgres(
    sqlite_history: Engine, history: History, view: str, key: str
) -> None:
    assert view_rows(sqlite_history, view, key) == lines_by_day(sqlite_history, key)
    engine = history.factory.kw["bind"]
    assert view_rows(engine, view, key) == lines_by_day(engine, key)
