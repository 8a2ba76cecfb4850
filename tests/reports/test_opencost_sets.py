"""Line items to OpenCost allocation sets, by hand: idle left out, separate or shared; names, properties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attribution.reports.lineitems import LineItem
from attribution.reports.opencost import allocation_set

WINDOW = (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def _line(tenant: str, pool: str, tier: str, kv: int, static: int, idle: int) -> LineItem:
    """Micro-USD components, whole cents each, so the line's cents are their sum."""
    total = kv + static + idle
    return LineItem(
        tenant, pool, tier, 1, 1, 1, 1.0, 1.0, kv, static, idle, 0, total, False, total_cents=total // 10_000
    )


LINES = [
    _line("acme-chat", "small", "0-4k", 6_000_000, 2_000_000, 2_000_000),  # $10.00, $2.00 of it idle
    _line("acme-chat", "small", "4k-32k", 1_000_000, 500_000, 500_000),  # $2.00, $0.50 idle
    _line("globex", "large", "0-4k", 3_000_000, 0, 1_000_000),  # $4.00, $1.00 idle
    _line("__idle__", "large", "__none__", 0, 0, 1_500_000),  # the separate policy's $1.50
]


def _costs(found: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    return {name: (a["totalCost"], a["gpuCostIdle"]) for name, a in found.items()}


def test_idle_left_out_separate_and_shared() -> None:
    left_out = allocation_set(LINES, WINDOW, ("namespace",), include_idle=False, share_idle=False)
    assert _costs(left_out) == {"acme-chat": (9.5, 0.0), "globex": (3.0, 0.0)}
    separate = allocation_set(LINES, WINDOW, ("namespace",), include_idle=True, share_idle=False)
    assert _costs(separate) == {"__idle__": (5.0, 0.0), "acme-chat": (9.5, 0.0), "globex": (3.0, 0.0)}
    shared = allocation_set(LINES, WINDOW, ("namespace",), include_idle=True, share_idle=True)
    assert _costs(shared) == {"__idle__": (1.5, 0.0), "acme-chat": (12.0, 2.5), "globex": (4.0, 1.0)}
    # shareIdle without includeIdle: nothing to share, as in OpenCost
    assert allocation_set(LINES, WINDOW, ("namespace",), include_idle=False, share_idle=True) == left_out


def test_names_and_properties() -> None:
    found = allocation_set(LINES, WINDOW, ("controller", "label:tier"), include_idle=False, share_idle=False)
    assert sorted(found) == ["large/0-4k", "small/0-4k", "small/4k-32k"]
    assert found["small/0-4k"]["properties"] == {
        "cluster": "default",
        "controller": "small",
        "labels": {"tier": "0-4k"},
    }
    finest = allocation_set(LINES, WINDOW, (), include_idle=False, share_idle=False)
    assert sorted(finest) == [
        "default/acme-chat/small/0-4k",
        "default/acme-chat/small/4k-32k",
        "default/globex/large/0-4k",
    ]
    a = finest["default/globex/large/0-4k"]
    assert (a["gpuCost"], a["ramCost"], a["minutes"]) == (3.0, 0.0, 1440.0)
    assert a["window"] == {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}
