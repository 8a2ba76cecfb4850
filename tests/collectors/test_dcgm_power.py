"""Measured GPU power from dcgm (``DCGM_FI_DEV_POWER_USAGE``, watts) in the real exporter's label shapes,
backfilled into a real Prometheus: stored per sample as milliwatts, and a derived price costs the power of
the GPUs that reported it at their measured energy, the nameplate for the rest, to the micro-dollar.

By hand (ten one-minute intervals): the two H100 draw 412.5 W (serving) and 61.25 W (idle), 473,750 mW
together, against a 700 W nameplate each (1,400,000 mW). At PUE 1 and 0.40 USD/kWh the interval's power
costs (473,750 - 1,400,000) mW x 60 s / 3.6e9 = -0.0154375 kWh x 400,000 micro-USD = -6,175 micro-USD
less than at the nameplate: -61,750 over the ten minutes. The A100 in MIG mode reports its power too, but
is priced directly (no power part): its cost does not move.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings, load_settings
from attribution.ledger.attribute import run_attribution
from attribution.ledger.inputs import price_schedules
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.model.derived_price import schedule_span_cost_usd_micros
from attribution.reports.price_basis import price_basis
from attribution.store.tables import ClusterCost, GpuSample
from tests.collectors import dcgm_shapes
from tests.collectors.dcgm_shapes import cluster, write_history
from tests.support.services import missing_service

START = datetime(2026, 11, 2, 6, tzinfo=UTC)
END = START + timedelta(minutes=10)
H100_SERVING, H100_IDLE = (
    "GPU-7d8a1c52-0b1e-4c8f-9f3a-11aa22bb33cc",
    "GPU-1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
)
MIG_A100 = "GPU-9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a"
POWER = {H100_SERVING: 412.5, H100_IDLE: 61.25, MIG_A100: 250.0}
MEASURED_LESS_USD_MICROS = 10 * 6_175


def derived_h100(measured: bool) -> dict[str, Any]:
    return {
        "gpu_type": "H100-SXM",
        "effective_from": "2026-11-01T00:00:00Z",
        "derived": {
            "purchase_usd": "25920",
            "depreciation_months": 36,
            "watts_per_gpu": 700,
            "pue": "1",
            "usd_per_kwh": "0.40",
            "measured_power": measured,
        },
    }


def settings_for(url: str, measured: bool = True) -> Settings:
    return load_settings(
        database_url="sqlite://",
        inventory={"H100-SXM": 2, "A100-SXM-80GB": 2, "A30": 1},
        gpu_prices=[
            derived_h100(measured),
            {"gpu_type": "A100-SXM-80GB", "usd_per_gpu_hour": dcgm_shapes.A100_H100_USD_PER_HOUR},
            {"gpu_type": "A30", "usd_per_gpu_hour": dcgm_shapes.A30_USD_PER_HOUR},
        ],
        pools=dcgm_shapes.pools(),
        sources=[{"name": "dcgm", "url": url, "profiles": ["dcgm"]}],
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - where make test's install step did not run
        missing_service(
            "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
        )
    return tmp_path_factory.mktemp("dcgm-power")


def nameplate_cost(settings: Settings) -> int:
    """The window's cost at the nameplate: every type's schedule over the ten minutes, exactly."""
    start_s, end_s = int(START.timestamp()), int(END.timestamp())
    schedules = price_schedules(settings)
    return sum(
        schedule_span_cost_usd_micros(schedules[t], n, start_s, end_s) for t, n in settings.inventory.items()
    )


@pytest.mark.parametrize("shape", ["servicemonitor", "old-namespace"])
def test_measured_power_is_stored_and_priced(
    work: Path, pg_factory: sessionmaker[Session], shape: str
) -> None:
    history = write_history(work / f"{shape}.om", cluster(), shape, START, END, power_watts=POWER)
    create_blocks(history, work / shape)
    with LocalPrometheus(work / shape) as prom:
        settings = settings_for(prom.url)
        collect_window(PromClient(prom.url), settings, pg_factory, START, END)
    run_attribution(settings, pg_factory, START, END)
    with pg_factory() as session:
        stored = session.execute(
            select(GpuSample.gpu_uuid, GpuSample.part, GpuSample.power_milliwatts).where(
                GpuSample.interval_start == START
            )
        ).all()
        cost = session.scalar(
            select(func.sum(ClusterCost.cost_usd_micros)).where(
                ClusterCost.interval_start >= START, ClusterCost.interval_start < END
            )
        )
    power = {(uuid, part): mw for uuid, part, mw in stored}
    assert power[(H100_SERVING, "")] == 412_500 and power[(H100_IDLE, "")] == 61_250
    # a device field: every part of the MIG GPU carries the GPU's power; a GPU that reported none, None
    assert {mw for (uuid, _), mw in power.items() if uuid == MIG_A100} == {250_000}
    assert {mw for (uuid, _), mw in power.items() if uuid not in POWER} == {None}
    assert cost == nameplate_cost(settings) - MEASURED_LESS_USD_MICROS
    (_a100, _a30, h100) = price_basis(settings, "2026-11")
    (part,) = [p for p in h100.prices[0].parts if p.part == "power"]
    assert part.basis.startswith("power_source dcgm: measured energy where reported, else 700 W nameplate")


def test_without_measured_power_the_nameplate_bills(work: Path, pg_factory: sessionmaker[Session]) -> None:
    history = write_history(work / "off.om", cluster(), "honor", START, END, power_watts=POWER)
    create_blocks(history, work / "off")
    with LocalPrometheus(work / "off") as prom:
        settings = settings_for(prom.url, measured=False)
        collect_window(PromClient(prom.url), settings, pg_factory, START, END)
    run_attribution(settings, pg_factory, START, END)
    with pg_factory() as session:
        cost = session.scalar(
            select(func.sum(ClusterCost.cost_usd_micros)).where(
                ClusterCost.interval_start >= START, ClusterCost.interval_start < END
            )
        )
    assert cost == nameplate_cost(settings)
    (_a100, _a30, h100) = price_basis(settings, "2026-11")
    (part,) = [p for p in h100.prices[0].parts if p.part == "power"]
    assert part.basis.startswith("power_source nameplate: 700 W nameplate x PUE 1 x 0.40 USD/kWh")
