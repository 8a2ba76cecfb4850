"""dcgm-exporter's real label sets (plain, MIG and shared GPUs; behind a ServiceMonitor with and without
``honorLabels``; ``--use-old-namespace``) backfilled into a real Prometheus, collected and attributed on
Postgres: every GPU placed, every micro-dollar on a pool, idle or ``__unmeasured__``, coverage right, and
the same lines whatever order the series come in.

Money by hand, per one-minute interval (A100 and H100 at $3.60/h: 60,000 micro-USD a GPU-minute; the A30
at $1.20/h: 20,000): ``llama`` holds a whole H100 (60,000); ``small`` a ``3g.40gb`` instance, 4 of 8
memory slices (30,000); ``tiny`` a ``1g.10gb``, 1 of 8 (7,500); ``a30`` two ``1g.6gb`` instances, 1 of 4
each (10,000); ``medgemma`` 15866 MiB of the shared A100's 81920 (60,000 x 15866 / 81920 = 11,620.6,
within one micro-USD by largest remainder). The rest of the 260,000 is unallocated: the idle H100, the
idle ``1g.10gb`` and the two free slices, the A30's idle instances, the shared GPU's free memory and
``gpu-burn`` (a pod of no pool).
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.api.convert import to_schema
from attribution.api.schemas import CoverageOut
from attribution.collectors.answers import SeriesColumns
from attribution.collectors.cli import collect_app
from attribution.collectors.prom import PromClient, Series
from attribution.collectors.run import collect_window
from attribution.config import Settings, load_settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.reports.coverage import coverage_report
from attribution.reports.monthly import build_statement_report
from attribution.store.collection_state import source_coverage
from attribution.store.tables import AttributedCost, ClusterCost, GpuSample, PoolCost
from tests.collectors import dcgm_shapes
from tests.collectors.dcgm_shapes import (
    A30_MINUTE_USD_MICROS,
    GPU_MINUTE_USD_MICROS,
    SHAPES,
    cluster,
    write_history,
)
from tests.support.database import truncate_all
from tests.support.services import missing_service

START = datetime(2026, 11, 2, 6, tzinfo=UTC)
END = START + timedelta(minutes=10)
INTERVALS = 10
MEDGEMMA_EXACT = GPU_MINUTE_USD_MICROS * 15_866 / 81_920


class ShufflingClient(PromClient):
    """Prometheus, with each answer's series in a shuffled order: the collector must not care."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(url)
        self.rng = random.Random(seed)

    def range_query(self, query: str, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        series = super().range_query(query, start, end, step_seconds)
        self.rng.shuffle(series)
        return series

    def range_columns(self, query: str, start: datetime, end: datetime, step_seconds: int) -> SeriesColumns:
        found = super().range_columns(query, start, end, step_seconds)
        order = list(range(len(found.labels)))
        self.rng.shuffle(order)
        pieces = [np.arange(found.offsets[i], found.offsets[i + 1]) for i in order]
        at = np.concatenate([np.zeros(0, dtype=np.int64), *pieces])
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces], dtype=np.int64)])
        labels = [found.labels[i] for i in order]
        return SeriesColumns(labels, offsets.astype(np.int64), found.stamps[at], found.values[at])

    def range_stamps(
        self, query: str, start: datetime, end: datetime, step_seconds: int
    ) -> list[tuple[dict[str, str], list[int]]]:
        series = super().range_stamps(query, start, end, step_seconds)
        self.rng.shuffle(series)
        return series


def settings_for(url: str, unknown_profile: bool = False) -> Settings:
    return load_settings(
        database_url="sqlite://",
        inventory={"H100-SXM": 2, "A100-SXM-80GB": 3 if unknown_profile else 2, "A30": 1},
        gpu_prices=[
            {"gpu_type": "H100-SXM", "usd_per_gpu_hour": dcgm_shapes.A100_H100_USD_PER_HOUR},
            {"gpu_type": "A100-SXM-80GB", "usd_per_gpu_hour": dcgm_shapes.A100_H100_USD_PER_HOUR},
            {"gpu_type": "A30", "usd_per_gpu_hour": dcgm_shapes.A30_USD_PER_HOUR},
        ],
        pools=dcgm_shapes.pools(),
        sources=[{"name": "dcgm", "url": url, "profiles": ["dcgm"]}],
    )


@pytest.fixture(scope="module")
def prometheus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - where make test's install step did not run
        missing_service(
            "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
        )
    return tmp_path_factory.mktemp("dcgm-shapes")


def serve(work: Path, shape: str, unknown_profile: bool = False, seed: int | None = None) -> LocalPrometheus:
    name = f"{shape}-{int(unknown_profile)}-{seed}"
    history = write_history(work / f"{name}.om", cluster(unknown_profile), shape, START, END, seed)
    create_blocks(history, work / name)
    return LocalPrometheus(work / name)


def in_window(table: Any) -> Any:
    """The ten collected minutes: attribution widens to its settlement hour, whose rest has no data."""
    return (table.interval_start >= START) & (table.interval_start < END)


def collect_and_attribute(
    factory: sessionmaker[Session], settings: Settings, client: PromClient
) -> dict[str, Any]:
    collect_window(client, settings, factory, START, END)
    run_attribution(settings, factory, START, END)
    with factory() as session:
        pools = dict(
            session.execute(
                select(PoolCost.pool, func.sum(PoolCost.cost_usd_micros))
                .where(in_window(PoolCost))
                .group_by(PoolCost.pool)
            ).all()
        )
        per_interval = session.execute(
            select(PoolCost.interval_start, PoolCost.pool, PoolCost.cost_usd_micros)
            .where(in_window(PoolCost))
            .order_by(PoolCost.interval_start, PoolCost.pool)
        ).all()
        cluster_row = session.execute(
            select(
                func.sum(ClusterCost.cost_usd_micros),
                func.sum(ClusterCost.unallocated_usd_micros),
                func.sum(ClusterCost.unmeasured_usd_micros),
                func.sum(ClusterCost.gpus_sampled),
            ).where(in_window(ClusterCost))
        ).one()
        # lines are per line grain (an hour), over the whole settlement hour that attribution widened to
        lines = session.execute(
            select(
                func.sum(AttributedCost.total_usd_micros),
                func.sum(AttributedCost.unmeasured_usd_micros),
                select(func.sum(ClusterCost.cost_usd_micros)).scalar_subquery(),
                select(func.sum(ClusterCost.unmeasured_usd_micros)).scalar_subquery(),
            )
        ).one()
        line_rows = session.execute(
            select(
                AttributedCost.interval_start,
                AttributedCost.pool,
                AttributedCost.tenant,
                AttributedCost.tier,
                AttributedCost.total_usd_micros,
            ).order_by(AttributedCost.interval_start, AttributedCost.pool, AttributedCost.tenant)
        ).all()
        parts = session.execute(
            select(
                GpuSample.gpu_uuid, GpuSample.part, GpuSample.pool, GpuSample.gpu_share_ppm, GpuSample.problem
            )
            .where(GpuSample.interval_start == START)
            .order_by(GpuSample.gpu_uuid, GpuSample.part)
        ).all()
        coverage = coverage_report(session, START, END, settings.interval_seconds)
        statuses = [tuple(r) for r in source_coverage(session, START, END, "gpu")]
    return {
        "pools": {str(k): int(v) for k, v in pools.items()},
        "per_interval": [tuple(r) for r in per_interval],
        "cluster": tuple(int(v) for v in cluster_row),
        "lines": tuple(int(v) for v in lines),
        "line_rows": [tuple(r) for r in line_rows],
        "parts": [tuple(r) for r in parts],
        "coverage": coverage,
        "statuses": statuses,
    }


def assert_money_lands_right(result: dict[str, Any], unknown_profile: bool = False) -> None:
    pools = result["pools"]
    total, unallocated, unmeasured, sampled = result["cluster"]
    a100s = 3 if unknown_profile else 2
    assert total == INTERVALS * ((2 + a100s) * GPU_MINUTE_USD_MICROS + A30_MINUTE_USD_MICROS)
    assert pools["llama"] == INTERVALS * GPU_MINUTE_USD_MICROS
    assert pools["small"] == INTERVALS * GPU_MINUTE_USD_MICROS * 4 // 8
    assert pools["tiny"] == INTERVALS * GPU_MINUTE_USD_MICROS // 8 * (2 if unknown_profile else 1)
    assert pools["a30"] == INTERVALS * 2 * A30_MINUTE_USD_MICROS // 4
    for _, pool, cost in result["per_interval"]:
        if pool == "medgemma":
            assert abs(cost - MEDGEMMA_EXACT) <= 1
    expected_unmeasured = INTERVALS * GPU_MINUTE_USD_MICROS * 7 // 8 if unknown_profile else 0
    assert unmeasured == expected_unmeasured
    assert unallocated == total - sum(pools.values()) - unmeasured
    assert sampled == INTERVALS * (2 + a100s + 1), "every physical GPU placed"
    # every micro-dollar of the hour's bill is on a line: tenant, idle or __unmeasured__; the hour's other
    # fifty minutes have no telemetry, so their GPUs are unmeasured
    lines_total, lines_unmeasured, hour_total, hour_unmeasured = result["lines"]
    assert lines_total == hour_total == 6 * total
    assert lines_unmeasured == hour_unmeasured == 5 * total + unmeasured


@pytest.mark.parametrize("shape", SHAPES)
def test_each_label_shape_places_every_gpu_and_every_dollar(
    prometheus_dir: Path, pg_factory: sessionmaker[Session], shape: str
) -> None:
    with serve(prometheus_dir, shape) as prom:
        result = collect_and_attribute(pg_factory, settings_for(prom.url), PromClient(prom.url))
    assert_money_lands_right(result)
    parts = {
        (uuid[:12], part): (pool, share, problem) for uuid, part, pool, share, problem in result["parts"]
    }
    assert parts[("GPU-9e8d7c6b", "mig:2")] == ("small", 500_000, None)
    assert parts[("GPU-9e8d7c6b", "mig:9")] == ("tiny", 125_000, None)
    assert parts[("GPU-9e8d7c6b", "mig:10")] == (None, 125_000, None)
    assert parts[("GPU-9e8d7c6b", "mig-free")] == (None, 250_000, None)
    assert parts[("GPU-265c9814", "mig:3")] == ("a30", 250_000, None)
    assert parts[("GPU-265c9814", "mig:6")] == (None, 250_000, None)
    medgemma = "vllm-inference/vllm-medgemma-4b-it-d599b4c99-f95nk/vllm"
    assert parts[("GPU-3bc239e1", f"pod:{medgemma}")] == ("medgemma", 193_677, None)
    assert parts[("GPU-3bc239e1", "free")] == (None, 612_646, None)
    assert parts[("GPU-7d8a1c52", "")] == ("llama", None, None)
    assert parts[("GPU-1f2e3d4c", "")] == (None, None, None)
    assert all(problem is None for *_, problem in result["parts"])
    (gpu,) = result["coverage"].sources
    assert (gpu.present, gpu.unplaced, gpu.missing, gpu.not_collected) == (INTERVALS, 0, 0, 0)


def test_the_order_of_series_decides_nothing(
    prometheus_dir: Path, pg_factory: sessionmaker[Session], pg_engine: Engine
) -> None:
    """Series shuffled in the exposition Prometheus loads, and again in every answer the collector reads:
    the same rows, the same pool costs and the same lines, to the micro-dollar."""
    results = []
    for seed in (None, 1, 2):
        with serve(prometheus_dir, "servicemonitor", seed=seed) as prom:
            client = PromClient(prom.url) if seed is None else ShufflingClient(prom.url, seed)
            results.append(collect_and_attribute(pg_factory, settings_for(prom.url), client))
        truncate_all(pg_engine)
    for other in results[1:]:
        for key in ("pools", "per_interval", "cluster", "lines", "line_rows", "parts"):
            assert other[key] == results[0][key], key


def test_a_series_that_cannot_be_placed_is_unmeasured_and_shown(
    prometheus_dir: Path,
    pg_factory: sessionmaker[Session],
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A MIG instance of a profile no GPU has (``5g.99gb``): the slices no known instance holds go to
    ``__unmeasured__``; the interval's coverage says ``unplaced`` (in ``attribution collect coverage``,
    the API's coverage and the statement); the collector logs it."""
    caplog.set_level(logging.WARNING, logger="attribution.collectors.gpu")
    with serve(prometheus_dir, "honor", unknown_profile=True) as prom:
        result = collect_and_attribute(pg_factory, settings_for(prom.url, True), PromClient(prom.url))
    assert_money_lands_right(result, unknown_profile=True)
    unplaced = [p for p in result["parts"] if p[4] is not None]
    assert [(p[1], p[3]) for p in unplaced] == [("mig:1/pod:llm/small-1/vllm/unplaced", 875_000)]
    assert "5g.99gb" in unplaced[0][4]
    (gpu,) = result["coverage"].sources
    assert (gpu.present, gpu.unplaced) == (0, INTERVALS)
    assert result["statuses"] == [("gpu", "dcgm", "unplaced", INTERVALS)]
    api = to_schema(CoverageOut, result["coverage"])
    assert (api.sources[0].unplaced, api.sources[0].gaps[0].status) == (INTERVALS, "unplaced")
    with pg_factory() as session:
        statement = build_statement_report(session, settings_for("http://unused", True), "2026-11")
    assert ("gpu", "dcgm", "unplaced", INTERVALS) in statement.coverage.source_status
    assert statement.coverage.unmeasured_usd_micros > 0
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTRIBUTION_DATABASE_URL", pg_url)
    window = ["--start", START.isoformat(), "--end", END.isoformat(), "--collector", "gpu"]
    cli = CliRunner().invoke(collect_app, ["coverage", *window])
    assert cli.exit_code == 0, cli.output
    rows = [line.split() for line in cli.output.splitlines()]
    assert rows[0][:7] == [
        "collector",
        "source",
        "present",
        "estimated",
        "missing",
        "unplaced",
        "not_collected",
    ]
    assert rows[1] == ["gpu", "dcgm", "0", "0", "0", str(INTERVALS), "0"], cli.output
    assert any("5g.99gb" in r.getMessage() and "__unmeasured__" in r.getMessage() for r in caplog.records)
