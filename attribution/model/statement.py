"""Statement lines: rounding to cents once, at the line, and the content hash that freezes them.

A statement has ``usage`` lines (a period's own cost, per pool x tenant x tier) and ``correction`` lines
(restatements of earlier closed periods billed in this one, FOCUS ChargeClass semantics). Money is summed
in micro-USD and rounded once, at the line, to cents by largest remainder; roll-ups sum rounded lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any

from attribution.model.money import micros_to_cents
from attribution.model.vocabulary import IDLE_KINDS

USAGE = "usage"
CORRECTION = "correction"
COMPONENTS = ("kv_in_use", "static", "idle", "unmeasured", "recovery")
"""The components that sum to a line's total; ``idle`` is itself the sum of ``IDLE_PART_FIELDS``;
``recovery`` is the cost of recovery incidents (a pool down or reloading while its GPUs are paid)."""
IDLE_PART_FIELDS = tuple(f"{k}_usd_micros" for k in IDLE_KINDS)
"""The three kinds of idle, in micro-USD: never added to a total (``idle`` already holds them)."""
USAGE_FIELDS = ("kv_token_seconds", "kv_byte_seconds", "requests", "prompt_tokens", "generation_tokens")
MONEY_FIELDS = (*(f"{c}_usd_micros" for c in COMPONENTS), "total_usd_micros")


@dataclass(frozen=True, slots=True)
class Line:
    charge_class: str
    charge_period: str
    pool: str
    tenant: str
    tier: str
    kv_in_use_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    idle_cold_usd_micros: int
    idle_warm_usd_micros: int
    kv_headroom_usd_micros: int
    unmeasured_usd_micros: int
    total_usd_micros: int
    total_cents: int
    kv_token_seconds: float
    kv_byte_seconds: float
    requests: int
    prompt_tokens: int
    generation_tokens: int
    recovery_usd_micros: int = 0

    @property
    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (self.charge_class, self.charge_period, self.pool, self.tenant, self.tier)


def rounded_lines(raw: list[dict[str, Any]]) -> list[Line]:
    """Each line's total to cents by largest remainder, per charge class: the usage lines sum to the usage
    total rounded, the corrections to theirs. Rounded together, a cent could pass from one class to the
    other, and the usage of a month would no longer equal its cluster cost in cents (the bill)."""
    raw = sorted(
        raw, key=lambda r: (r["charge_class"], r["charge_period"], r["pool"], r["tenant"], r["tier"])
    )
    cents: list[int] = []
    for _, group in groupby(raw, key=lambda r: r["charge_class"]):
        cents += _signed_cents([r["total_usd_micros"] for r in group])
    return [Line(**r, total_cents=c) for r, c in zip(raw, cents, strict=True)]


def _signed_cents(amounts: list[int]) -> list[int]:
    """Credits (negative corrections) are rounded by absolute value with their sign re-applied."""
    positive = [max(a, 0) for a in amounts]
    negative = [max(-a, 0) for a in amounts]
    up, down = micros_to_cents(positive), micros_to_cents(negative)
    return [u - d for u, d in zip(up, down, strict=True)]


def content_hash(period: str, lines: Sequence[Line]) -> str:
    """SHA-256 over the canonical JSON of the statement: any change to any issued figure changes it.

    The kinds of idle are left out: they break down ``idle_usd_micros`` (which is in), are frozen with the
    lines all the same, and leaving them out keeps the hashes of statements closed before they existed
    verifiable by anyone from the lines as served. Recovery is in only where it is not zero, for the same
    reason: a statement closed before recovery existed hashes as it did."""
    canonical = json.dumps(
        {"period": period, "lines": [_hashed(line) for line in sorted(lines, key=lambda x: x.sort_key)]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hashed(line: Line) -> dict[str, Any]:
    hashed = {k: v for k, v in asdict(line).items() if k not in IDLE_PART_FIELDS}
    if not hashed["recovery_usd_micros"]:
        del hashed["recovery_usd_micros"]
    return hashed
