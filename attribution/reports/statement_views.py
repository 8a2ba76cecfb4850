"""The views of a monthly statement (per tenant, tenant x tier, pool, day), each summing to its total.

A statement is rounded once, at its lines (pool x tenant x tier, in cents, by largest remainder). Every
view here is a roll-up of those rounded lines, never a re-rounding of aggregates (finops.md 3.5), so the
tenants, the tenant x tier cells and the pools all sum to the statement's total to the cent. Components
(KV in use, static share, idle share, unmeasured, recovery) are rounded per line so that they sum to the
line's cents (hierarchical rounding), and roll up the same way.

The daily view is the one view not made of statement lines (they carry no date): it apportions the
period's interval lines to the same total, and shows any difference (cost restated after a close, billed
as corrections elsewhere) on an explicit row rather than hiding it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from attribution.model.money import MICROS_PER_CENT, allocate, round_to_unit
from attribution.model.statement import COMPONENTS, IDLE_PART_FIELDS, Line

GIB = 1024**3
_TIER_FLOOR = re.compile(r"^(\d+)(k?)(?:-|\+$)")


def tier_sort_key(tier: str | None) -> tuple[int, int, str]:
    """Context tiers by their lower boundary (``0-4k``, ``4k-32k``, ``32k-128k``, ``128k+``), not as text
    (which puts ``32k-128k`` before ``4k-32k``); names that are no tier (``__none__``) come after, by name."""
    found = _TIER_FLOOR.match(tier or "")
    if found is None:
        return (1, 0, tier or "")
    return (0, int(found.group(1)) * (1024 if found.group(2) else 1), tier or "")


def apportion_cents(amounts_usd_micros: Sequence[int], total_cents: int) -> list[int]:
    """Round micro-USD amounts to cents that sum exactly to ``total_cents`` (a parent's rounded figure).

    Largest remainder when the parent is within reach of the floors (the usual case); otherwise (a
    parent rounded from a different grouping, or credits among debits) the shortfall is spread over the
    amounts in proportion to their size, still exactly.
    """
    if not amounts_usd_micros:
        if total_cents:
            raise ValueError(f"cannot apportion {total_cents} cents over no amounts")
        return []
    try:
        return round_to_unit(amounts_usd_micros, MICROS_PER_CENT, total_cents)
    except ValueError:
        floors = [a // MICROS_PER_CENT for a in amounts_usd_micros]
        weights = [abs(a) for a in amounts_usd_micros]
        if not any(weights):
            weights = [1] * len(weights)
        extra = allocate(total_cents - sum(floors), weights)
        return [f + e for f, e in zip(floors, extra, strict=True)]


def cents_half_even(usd_micros: int) -> int:
    return int((Decimal(usd_micros) / MICROS_PER_CENT).to_integral_value(ROUND_HALF_EVEN))


def line_component_cents(line: Line) -> tuple[int, ...]:
    """A line's components in cents, summing to the line's cents (which the statement fixed)."""
    return tuple(apportion_cents([getattr(line, f"{c}_usd_micros") for c in COMPONENTS], line.total_cents))


def line_idle_kind_cents(line: Line, idle_cents: int) -> list[int]:
    """A line's idle cents (one of ``line_component_cents``) split by kind, summing to them exactly."""
    return apportion_cents([getattr(line, f) for f in IDLE_PART_FIELDS], idle_cents)


@dataclass(slots=True)
class Row:
    """One row of a view: usage and cost by component. Cents sum to ``total_cents``; micros are exact."""

    key: tuple[str, ...]
    requests: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    kv_byte_seconds: float = 0.0
    kv_in_use_cents: int = 0
    static_cents: int = 0
    idle_cents: int = 0
    unmeasured_cents: int = 0
    recovery_cents: int = 0
    total_cents: int = 0
    total_usd_micros: int = 0
    component_usd_micros: list[int] = field(default_factory=lambda: [0] * len(COMPONENTS))
    idle_kind_cents: list[int] = field(default_factory=lambda: [0, 0, 0])
    """Cold, warm, headroom: each line's idle cents split by kind (largest remainder), then summed, so
    they sum to ``idle_cents``. Unknown (``kinds_known`` false) for daily rows: days carry no kinds."""
    kinds_known: bool = True

    @property
    def memory_gib_hours(self) -> float:
        return self.kv_byte_seconds / GIB / 3600

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generation_tokens

    @property
    def component_cents(self) -> tuple[int, int, int, int, int]:
        """In the order of ``COMPONENTS``: KV in use, static, idle, unmeasured, recovery."""
        return (
            self.kv_in_use_cents,
            self.static_cents,
            self.idle_cents,
            self.unmeasured_cents,
            self.recovery_cents,
        )

    def add_cents(self, parts: Sequence[int], total: int) -> None:
        self.kv_in_use_cents += parts[0]
        self.static_cents += parts[1]
        self.idle_cents += parts[2]
        self.unmeasured_cents += parts[3]
        self.recovery_cents += parts[4]
        self.total_cents += total

    def add_usage(self, requests: int, prompt: int, generation: int, byte_seconds: float) -> None:
        self.requests += requests
        self.prompt_tokens += prompt
        self.generation_tokens += generation
        self.kv_byte_seconds += byte_seconds

    def add_line(self, line: Line) -> None:
        cents = line_component_cents(line)
        self.add_cents(cents, line.total_cents)
        kinds = line_idle_kind_cents(line, cents[COMPONENTS.index("idle")])
        self.idle_kind_cents = [a + b for a, b in zip(self.idle_kind_cents, kinds, strict=True)]
        self.add_usage(line.requests, line.prompt_tokens, line.generation_tokens, line.kv_byte_seconds)
        self.total_usd_micros += line.total_usd_micros
        for i, c in enumerate(COMPONENTS):
            self.component_usd_micros[i] += getattr(line, f"{c}_usd_micros")


def total_of(rows: Iterable[Row], key: tuple[str, ...] = ("total",)) -> Row:
    out = Row(key)
    for r in rows:
        out.add_cents(r.component_cents, r.total_cents)
        out.add_usage(r.requests, r.prompt_tokens, r.generation_tokens, r.kv_byte_seconds)
        out.total_usd_micros += r.total_usd_micros
        out.component_usd_micros = [
            a + b for a, b in zip(out.component_usd_micros, r.component_usd_micros, strict=True)
        ]
        out.idle_kind_cents = [a + b for a, b in zip(out.idle_kind_cents, r.idle_kind_cents, strict=True)]
        out.kinds_known = out.kinds_known and r.kinds_known
    return out


def roll_up(lines: Iterable[Line], key: Callable[[Line], tuple[str, ...]]) -> list[Row]:
    """Rows of a view, sorted by key: sums of the lines' rounded cents (never re-rounded)."""
    rows: dict[tuple[str, ...], Row] = {}
    for line in lines:
        k = key(line)
        rows.setdefault(k, Row(k)).add_line(line)
    return [rows[k] for k in sorted(rows)]


@dataclass(frozen=True, slots=True)
class DayAmounts:
    """One UTC day's interval lines in micro-USD by component, with usage (from ``attributed_costs``)."""

    day: str
    component_usd_micros: tuple[int, ...]
    """In the order of ``COMPONENTS``."""
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_byte_seconds: float

    @property
    def total_usd_micros(self) -> int:
        return sum(self.component_usd_micros)


RESTATED = "restated since close"
CORRECTIONS = "corrections billed in this period"


def daily_rows(days: Sequence[DayAmounts], usage: Row) -> list[Row]:
    """Days whose cents sum to the statement's usage, column by column, plus any restatement since a close.

    Each component's statement cents are apportioned over the days by the days' micro-USD (largest
    remainder), and a day's total is the sum of its components: so both the rows and every column add up.
    Where a component's interval lines no longer sum to the statement (a closed period whose inputs
    changed later; never for an open one), its days are rounded on their own and the difference is an
    explicit row rather than hidden in the days.
    """
    rows = [Row((d.day,), kinds_known=False) for d in days]
    restated = Row((RESTATED,), kinds_known=False)
    for i in range(len(COMPONENTS)):
        micros = [d.component_usd_micros[i] for d in days]
        current, billed = sum(micros), usage.component_usd_micros[i]
        billed_cents = getattr(usage, f"{COMPONENTS[i]}_cents")
        target = billed_cents if current == billed else cents_half_even(current)
        for row, c in zip(rows, apportion_cents(micros, target), strict=True):
            row.add_cents([c if j == i else 0 for j in range(len(COMPONENTS))], c)
        restated.component_usd_micros[i] = billed - current
        restated.add_cents(
            [billed_cents - target if j == i else 0 for j in range(len(COMPONENTS))], billed_cents - target
        )
    for row, d in zip(rows, days, strict=True):
        row.add_usage(d.requests, d.prompt_tokens, d.generation_tokens, d.kv_byte_seconds)
        row.total_usd_micros = d.total_usd_micros
        row.component_usd_micros = list(d.component_usd_micros)
    restated.total_usd_micros = sum(restated.component_usd_micros)
    if any(restated.component_usd_micros) or restated.total_cents:
        rows.append(restated)
    return rows
