"""The cost of headroom: what a pool run below its target occupancy pays per 1M tokens for the room.

Pure arithmetic, no I/O. A pool that serves at occupancy ``o`` (requests running over ``max_num_seqs``, or
KV use) with a target ``t`` the operator sets would, at ``t``, have served ``t / o`` times the tokens for
the same GPUs. So the part ``1 - o / t`` of its cost buys headroom; at or above target, none does. Money
is integer micro-USD (rounded half-even once); occupancy and target are ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from attribution.model.whatif import per_million


@dataclass(frozen=True, slots=True)
class Headroom:
    headroom_usd_micros: int
    """The part of the cost that bought capacity below the target occupancy."""
    usd_per_million_tokens: Decimal | None
    """As measured: the whole cost over the tokens served."""
    usd_per_million_tokens_at_target: Decimal | None
    """What 1M tokens would cost at the target occupancy: the cost less headroom, over the tokens."""
    headroom_usd_per_million_tokens: Decimal | None


def headroom(cost_usd_micros: int, tokens: int, occupancy: Decimal | None, target: Decimal) -> Headroom:
    """Split ``cost_usd_micros`` into the cost at target occupancy and the headroom below it."""
    if not Decimal(0) < target <= Decimal(1):
        raise ValueError("target occupancy must be in (0, 1]")
    if occupancy is None or occupancy >= target or cost_usd_micros <= 0:
        room = 0
    else:
        used = (Decimal(cost_usd_micros) * max(occupancy, Decimal(0)) / target).to_integral_value(
            ROUND_HALF_EVEN
        )
        room = cost_usd_micros - int(used)
    measured = per_million(cost_usd_micros, tokens)
    at_target = per_million(cost_usd_micros - room, tokens)
    return Headroom(
        headroom_usd_micros=room,
        usd_per_million_tokens=measured,
        usd_per_million_tokens_at_target=at_target,
        headroom_usd_per_million_tokens=per_million(room, tokens),
    )
