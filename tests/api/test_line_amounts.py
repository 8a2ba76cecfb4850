"""A filter, a grouping or a tenant key never changes an amount (MODEL.md): cents are rounded once over
the whole window's lines, as a statement rounds, and every view sums those cents.

The lines here are stored directly with amounts that are fractions of a cent, so largest remainder
decides who gets each leftover cent, and rounding within a filtered subset would give another answer.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from attribution.reports.chargeback import ALL_TENANTS, Grouping, LineFilter, group_lines
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import round_items
from attribution.store.session import unit_of_work
from attribution.store.tables import PoolCost
from attribution.store.writes import insert_all
from attribution.timeutil import iso
from tests.builders import T0
from tests.support.api import Api, api_over

WINDOW = {"start": iso(T0), "end": iso(T0 + timedelta(hours=1))}
TIERS = ("0-4k", "4k-32k")


def cents_of(api: Api, key: str = "finance", **params: str) -> dict[str, int]:
    body = api.get("/v1/chargeback", key=key, **WINDOW, **params).json()
    return {g["tenant"]: g["total_cents"] for g in body["tenants"]}


def line_cents(api: Api, key: str = "finance", **params: str) -> dict[tuple[str, str], int]:
    data = api.get("/v1/line-items", key=key, limit=1000, **WINDOW, **params).json()["data"]
    return {(x["tenant"], x["tier"]): x["total_cents"] for x in data}


def test_a_filter_or_a_key_never_changes_a_tenants_cents(pg_tx: sessionmaker[Session]) -> None:
    # 0.3 + 0.3 + 0.9 + 0.9 = 2.4 cents: the two leftover cents go to B's lines (largest remainders)
    api = api_over(
        pg_tx, {("A", "0-4k"): 3000, ("A", "4k-32k"): 3000, ("B", "0-4k"): 9000, ("B", "4k-32k"): 9000}
    )
    assert cents_of(api) == {"A": 0, "B": 2}
    assert line_cents(api) == {("A", "0-4k"): 0, ("A", "4k-32k"): 0, ("B", "0-4k"): 1, ("B", "4k-32k"): 1}
    # rounding A's lines alone would give A 1 cent (0.6 rounds up): every view gives it what finance sees
    assert cents_of(api, tenant="A") == {"A": 0}
    assert cents_of(api, key="A") == {"A": 0}
    assert cents_of(api, key="A", tier="0-4k") == {"A": 0}
    assert cents_of(api, tier="4k-32k") == {"A": 0, "B": 1}
    assert line_cents(api, key="A") == {("A", "0-4k"): 0, ("A", "4k-32k"): 0}
    assert line_cents(api, tier="0-4k") == {("A", "0-4k"): 0, ("B", "0-4k"): 1}


def test_a_groups_cents_are_the_sum_of_its_line_items_cents(pg_tx: sessionmaker[Session]) -> None:
    # 0.6 + 0.6 + 0.4 = 1.6 cents, 2 in all: each of A's lines gets a cent, so A is 2 cents grouped too
    # (rounding the groups instead, A's 1.2 and B's 0.4, would give A 1 and B 1)
    api = api_over(pg_tx, {("A", "0-4k"): 6000, ("A", "4k-32k"): 6000, ("B", "0-4k"): 4000})
    lines = line_cents(api)
    assert lines == {("A", "0-4k"): 1, ("A", "4k-32k"): 1, ("B", "0-4k"): 0}
    for group_by in ("tenant", "tenant_tier", "tenant_pool"):
        body = api.get("/v1/chargeback", key="finance", group_by=group_by, **WINDOW).json()
        for g in body["tenants"]:
            assert g["total_cents"] == sum(
                c for (t, tier), c in lines.items() if t == g["tenant"] and g["tier"] in (None, tier)
            )
        assert body["total_cents"] == 2 == sum(lines.values())
    assert cents_of(api, key="A") == cents_of(api, tenant="A") == {"A": 2}


def pool_row(pool: str, usd_micros: int) -> dict[str, Any]:
    money = ("kv_in_use", "kv_free", "static", "idle", "unmeasured")
    return {
        "interval_start": T0,
        "pool": pool,
        "gpu_count": 1,
        "memory_bytes": 10,
        "kv_capacity_bytes": 5,
        "kv_in_use_bytes": 1,
        "cost_usd_micros": usd_micros,
        **{f"{m}_usd_micros": usd_micros if m == "static" else 0 for m in money},
        "estimated": False,
    }


def test_pool_cents_do_not_depend_on_asking_for_one_pool(pg_tx: sessionmaker[Session]) -> None:
    # 0.6 cents each, 1.8 in all: two cents, to ``a`` and ``b`` (ties go to the earlier); ``c`` alone
    # would round its 0.6 up to a cent, which is not what it is charged among all pools
    api = api_over(pg_tx, {})
    with unit_of_work(pg_tx) as session:
        insert_all(session, PoolCost, [pool_row(p, 6000) for p in "abc"])
    every = {
        p["pool"]: p["cost_cents"] for p in api.get("/v1/pools", key="finance", **WINDOW).json()["pools"]
    }
    assert every == {"a": 1, "b": 1, "c": 0}
    for name, cents in every.items():
        assert api.get(f"/v1/pools/{name}", key="finance", **WINDOW).json()["cost_cents"] == cents


# --- the same, as properties of the read path's rounding and grouping ----------------------------------

TENANTS = ("A", "B", "C")
POOLS = ("p1", "p2")


def item(tenant: str, pool: str, tier: str, usd_micros: int, charge_class: str = "usage") -> LineItem:
    return LineItem(
        tenant, pool, tier, 1, 1, 1, 1.0, 1.0, usd_micros // 3, usd_micros - usd_micros // 3, 0, 0,
        usd_micros, False, charge_class, "2026-10" if charge_class == "correction" else "2026-11",
    )  # fmt: skip


line_sets = st.dictionaries(
    st.tuples(st.sampled_from(TENANTS), st.sampled_from(POOLS), st.sampled_from(TIERS), st.booleans()),
    st.integers(min_value=0, max_value=200_000),
    min_size=1,
    max_size=18,
)


def build(amounts: dict[tuple[str, str, str, bool], int]) -> list[LineItem]:
    """Usage lines, and (the flag) correction lines, which may be credits."""
    return round_items(
        [
            item(t, p, tier, -a if correction and a % 2 else a, "correction" if correction else "usage")
            for (t, p, tier, correction), a in amounts.items()
        ]
    )


@settings(max_examples=200, deadline=None)
@given(
    line_sets,
    st.sampled_from(list(Grouping)),
    st.sampled_from([None, *TENANTS]),
    st.sampled_from([None, *TIERS]),
)
def test_filtering_after_rounding_keeps_every_amount(
    amounts: dict[tuple[str, str, str, bool], int], grouping: Grouping, tenant: str | None, tier: str | None
) -> None:
    lines = build(amounts)
    # per charge class, its charges' cents sum to their total rounded to cents (and its credits' to
    # theirs), as a statement's do: a cent never passes between usage and corrections
    for charge_class in ("usage", "correction"):
        charges = [x for x in lines if x.charge_class == charge_class and x.total_usd_micros >= 0]
        rounded = int(
            (Decimal(sum(x.total_usd_micros for x in charges)) / 10_000).to_integral_value(ROUND_HALF_EVEN)
        )
        assert sum(x.total_cents for x in charges) == rounded
    keep = LineFilter(tenant=tenant, tier=tier)
    kept = [x for x in lines if keep.keep(x)]
    whole = {(g.tenant, g.tier, g.pool, g.cluster): g for g in group_lines(lines, grouping)}
    for g in group_lines(kept, grouping):
        members = [
            x
            for x in kept
            if g.tenant in (ALL_TENANTS, x.tenant)
            and g.tier in (None, x.tier)
            and g.pool in (None, x.pool)
            and g.cluster in (None, x.cluster)
        ]
        assert g.total_cents == sum(x.total_cents for x in members)
        parts = (g.kv_in_use_cents, g.static_cents, g.idle_cents, g.unmeasured_cents)
        assert sum(parts) == g.total_cents
        assert g.total_usd_micros == sum(x.total_usd_micros for x in members)
        # the filter keeps whole groups (a group of every tenant is whole only without a tenant filter)
        if (tier is None or grouping is Grouping.TENANT_TIER) and (tenant is None or g.tenant != ALL_TENANTS):
            assert g == whole[(g.tenant, g.tier, g.pool, g.cluster)]


@pytest.mark.parametrize("reverse", [False, True])
def test_rounding_does_not_depend_on_the_order_lines_arrive_in(reverse: bool) -> None:
    amounts = {
        ("A", "p1", "0-4k", False): 5000,
        ("B", "p1", "0-4k", False): 5000,
        ("C", "p2", "4k-32k", False): 5000,
    }
    forward = build(amounts)
    backward = round_items(
        list(reversed([item(x.tenant, x.pool, x.tier, x.total_usd_micros) for x in forward]))
    )
    assert sorted((x.key, x.total_cents) for x in forward) == sorted(
        (x.key, x.total_cents) for x in (backward if reverse else forward)
    )
