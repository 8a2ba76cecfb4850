"""What each GPU type's price was made of in a period: the ``price_basis`` section of statements.

For every GPU type of the inventory, the prices in effect during the month, each with its basis
(on-demand, reserved, spot, or derived from a purchase) and, for a derived price, its parts per GPU-hour
and per GPU-month, and the type's GPU cost for the month. The per-hour figures are the month's exact
parts spread over its hours, shown to the micro-dollar (half-even): a display, not a bill line. The
month's ``usd_micros`` is what the attribution billed for those GPUs, so finance can reconcile it with
the hand-worked figure and with the statement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from attribution.config import Settings
from attribution.config.pricing import GpuPrice
from attribution.model.derived_price import DerivedPoint, month_parts, schedule_span_cost_usd_micros
from attribution.timeutil import iso, period_window

MICROS = Decimal(1_000_000)


def _usd(micros: Fraction) -> str:
    """Exact micro-USD as a USD decimal string to the micro-dollar, half-even."""
    exact = Decimal(micros.numerator) / Decimal(micros.denominator)
    return str((exact / MICROS).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class PricePart:
    part: str
    usd_per_gpu_hour: str
    usd_per_gpu_month: str
    basis: str
    """How the part is figured, in words and the configured figures."""


@dataclass(frozen=True, slots=True)
class PriceInEffect:
    effective_from: str
    basis: str
    usd_per_gpu_hour: str
    parts: list[PricePart]


@dataclass(frozen=True, slots=True)
class GpuTypeBasis:
    gpu_type: str
    gpus: int
    usd_micros: int
    """The period's cost of the type's GPUs in the inventory, as the attribution billed it."""
    prices: list[PriceInEffect]

    def to_dict(self, with_cost: bool = True) -> dict[str, Any]:
        """As JSON; without ``usd_micros`` for a tenant's statement, which leaves the cluster's cost out."""
        body = asdict(self)
        if not with_cost:
            del body["usd_micros"]
        return body


def _power_how(watts: int, pue: str, usd_per_kwh: str, measured: bool) -> str:
    """How the power part is costed, and from what: its ``power_source``."""
    rate = f"x PUE {pue} x {usd_per_kwh} USD/kWh"
    if measured:
        return f"power_source dcgm: measured energy where reported, else {watts} W nameplate {rate}"
    return f"power_source nameplate: {watts} W nameplate {rate}"


def _derived_parts(price: GpuPrice, point: DerivedPoint, month_start_s: int) -> PriceInEffect:
    d = price.derived
    assert d is not None
    m = month_parts(point, month_start_s)
    hours = Fraction(m.hours)
    rows = [
        (
            "capex",
            m.capex,
            f"({d.purchase_usd} - {d.residual_usd}) / {d.gpus_per_purchase} GPU / {d.depreciation_months} "
            f"months straight-line from {iso(price.effective_from)}"
            + ("" if m.capex else "; fully depreciated"),
        ),
        ("power", m.power, _power_how(d.watts_per_gpu, d.pue, d.usd_per_kwh, d.measured_power)),
        (
            "colocation",
            m.colocation,
            f"{d.colocation_usd_per_month} USD per month / {d.gpus_per_colocation} GPU",
        ),
    ]
    parts = [PricePart(name, _usd(amount / hours), _usd(amount), how) for name, amount, how in rows]
    return PriceInEffect(iso(price.effective_from), price.price_basis.value, _usd(m.total / hours), parts)


def price_basis(settings: Settings, period: str) -> list[GpuTypeBasis]:
    """Each inventory GPU type's prices in effect during ``period`` (YYYY-MM), oldest first."""
    start, end = period_window(period)
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    out = []
    for gpu_type, count in sorted(settings.inventory.items()):
        prices = sorted(
            (p for p in settings.gpu_prices if p.gpu_type == gpu_type), key=lambda p: p.effective_from
        )
        in_effect = [
            p
            for i, p in enumerate(prices)
            if p.effective_from < end and (i + 1 == len(prices) or prices[i + 1].effective_from > start)
        ]
        listed = []
        for price in in_effect:
            point = price.point()
            if isinstance(point, DerivedPoint):
                listed.append(_derived_parts(price, point, max(start_s, point.effective_from_s)))
            else:
                rate = _usd(Fraction(point.usd_micros_per_gpu_hour))
                listed.append(PriceInEffect(iso(price.effective_from), price.price_basis.value, rate, []))
        schedule = [p.point() for p in prices]
        # from the first price on, as the attribution bills it (it refuses a window with no price)
        first_s = max(start_s, schedule[0].effective_from_s) if schedule else end_s
        billed = schedule_span_cost_usd_micros(schedule, count, first_s, end_s) if first_s < end_s else 0
        out.append(GpuTypeBasis(gpu_type, count, billed, listed))
    return out
