"""The split-cost allocation of each FOCUS row, as documented ``x_`` columns (docs/focus.md).

FOCUS 1.3 names these columns ``AllocatedMethodId``, ``AllocatedMethodDetails``, ``AllocatedResourceId``
and ``AllocatedResourceName``. The validator installed here (focus-validator 2.2.1) carries the FOCUS 1.2
rules only, so the export claims 1.2, which it passes, and gives the same information under the ``x_``
prefix that FOCUS reserves for provider columns; renaming them is all 1.3 would take.

The origin charge is a pool's GPU cost for the period (every usage line of the pool: its tenants' tiers,
its idle and unmeasured lines). It is split by memory-time: KV cache in use by its byte-seconds, static
memory (weights) by the policy's weights, idle by the pool's idle policy, unmeasured by what was measured
around it, recovery incidents by the recovery policy. Each usage row says which of its micro-USD came
from which component: one element per component, with its exact amount and its ratio of the origin.
Over the rows of one pool the amounts sum exactly to the origin's cost and the ratios to 1 (each ratio
is printed to 1e-12; the exact figure is the amount over ``x_OriginCostUsdMicros``). A correction
restates an earlier period's rows and is no split of this one's: its allocation columns are null.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from attribution.model.statement import COMPONENTS, CORRECTION, Line

METHOD_ID = "memory-time-v1"
"""Changes when the split changes meaning, so a reader can tell rows split by different methods apart."""
GIB_HOURS = 1024**3 * 3600
RATIO_PLACES = Decimal("1E-12")
COMPONENT_COLUMNS = (
    "x_KvInUseCost",
    "x_StaticCost",
    "x_IdleCost",
    "x_IdleColdCost",
    "x_IdleWarmCost",
    "x_KvHeadroomCost",
    "x_UnmeasuredCost",
    "x_RecoveryCost",
)
"""The cost components' columns, in the export's order: every row has them, an unused commitment's zero."""
ALLOCATION_COLUMNS = [
    "x_AllocatedMethodId",
    "x_AllocatedMethodDetails",
    "x_AllocatedResourceId",
    "x_AllocatedResourceName",
]


def origin_costs(lines: Sequence[Line]) -> dict[str, int]:
    """Each pool's usage cost for the period, micro-USD: the origin charge its rows split."""
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.charge_class != CORRECTION:
            totals[line.pool] += line.total_usd_micros
    return dict(totals)


def component_amounts(line: Line) -> dict[str, int]:
    """The line's micro-USD by component; they sum to its total."""
    return {c: getattr(line, f"{c}_usd_micros") for c in COMPONENTS}


def allocation_columns(line: Line, origins: dict[str, int]) -> dict[str, str]:
    """The four ``x_Allocated*`` cells of one row (empty, FOCUS's null, on a correction)."""
    if line.charge_class == CORRECTION:
        return dict.fromkeys(ALLOCATION_COLUMNS, "")
    origin = origins[line.pool]
    elements = []
    for component, amount in component_amounts(line).items():
        ratio = Fraction(amount, origin) if origin else None
        element: dict[str, object] = {
            "AllocatedRatio": None if ratio is None else float(_quantized(ratio)),
            "x_Component": component,
            "x_AmountUsdMicros": amount,
        }
        if component == "kv_in_use":
            element["UsageUnit"] = "GiB-Hours"
            element["UsageQuantity"] = round(line.kv_byte_seconds / GIB_HOURS, 6)
        elements.append(element)
    details = {
        "Elements": elements,
        "x_OriginResourceId": f"pool/{line.pool}",
        "x_OriginCostUsdMicros": origin,
    }
    return {
        "x_AllocatedMethodId": METHOD_ID,
        "x_AllocatedMethodDetails": json.dumps(details, sort_keys=True, separators=(",", ":")),
        "x_AllocatedResourceId": f"tenant/{line.tenant}/pool/{line.pool}/tier/{line.tier}",
        "x_AllocatedResourceName": f"{line.tenant}, pool {line.pool}, context tier {line.tier}",
    }


def _quantized(ratio: Fraction) -> Decimal:
    return (Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(RATIO_PLACES)
