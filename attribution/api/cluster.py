"""Cluster-wide views for finance: pools and their cost structure, coverage, and cost by context tier."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from attribution.api.auth import FinanceDep
from attribution.api.convert import to_schema
from attribution.api.deps import AnswersDep, SessionDep, SettingsDep, WindowQuery
from attribution.api.etag import IfNoneMatch
from attribution.api.limits import Expensive
from attribution.api.params import (
    NAME_PATTERN,
    CanonicalName,
    ClusterQuery,
    PoolQuery,
    check_cluster,
    resolve_period,
)
from attribution.api.pricing_schemas import TierPricingOut
from attribution.api.schemas import (
    CoverageOut,
    PoolOut,
    PoolPointOut,
    PoolsOut,
    PriceListIn,
    TierOut,
    TiersOut,
)
from attribution.config import Settings
from attribution.errors import NotFoundError
from attribution.model.vocabulary import RESERVED_NAMES
from attribution.reports.coverage import coverage_report
from attribution.reports.period_statement import build_statement
from attribution.reports.pools import pool_series, pool_summaries
from attribution.reports.pricelist import parse_price_list
from attribution.reports.pricing import analyse_tiers
from attribution.reports.tiers import statement_tier_costs, tier_costs
from attribution.reports.usage import check_step
from attribution.store.pools import pool_exists
from attribution.timeutil import iso

router = APIRouter(tags=["cluster"], dependencies=[Expensive])  # per-key rate limit

PoolPath = Annotated[str, Path(pattern=NAME_PATTERN), CanonicalName]
SeriesStepQuery = Annotated[
    int | None, Query(ge=60, le=31 * 86400, description="add the cost structure per bucket of this width")
]


@router.get("/v1/pools", response_model=PoolsOut)
def pools(
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
    cluster: ClusterQuery = None,
) -> PoolsOut:
    """Every pool's cost structure (KV in use, KV free, static; idle, unmeasured) and utilisation;
    ``cluster``: that cluster's pools only, cents rounded among them (as the console's pools page)."""
    s, e = asked.resolve(settings)
    check_cluster(settings, cluster)
    found = pool_summaries(session, s, e, settings.interval_seconds, cluster=cluster)
    return PoolsOut(start=iso(s), end=iso(e), pools=[to_schema(PoolOut, p) for p in found])


@router.get("/v1/pools/{pool}", response_model=PoolOut)
def pool(
    pool: PoolPath,
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
    step_seconds: SeriesStepQuery = None,
) -> PoolOut:
    """One pool (404 if unknown), with its cost structure over time when ``step_seconds`` is given."""
    s, e = asked.resolve(settings)
    if step_seconds is not None:
        check_step(s, e, step_seconds, settings.interval_seconds, settings.api.max_series_points)
    known = frozenset(p.name for p in settings.pools)
    found = pool_summaries(session, s, e, settings.interval_seconds, pool, known)
    series = pool_series(session, pool, s, e, step_seconds) if step_seconds else []
    return to_schema(PoolOut, found[0], series=[to_schema(PoolPointOut, p) for p in series])


@router.get("/v1/coverage", response_model=CoverageOut)
def coverage(
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
) -> CoverageOut:
    """Per collector and source: intervals present, estimated, missing, never collected; the gaps."""
    s, e = asked.resolve(settings)
    return to_schema(CoverageOut, coverage_report(session, s, e, settings.interval_seconds))


@router.get("/v1/tiers", response_model=TiersOut)
def tiers(
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    answers: AnswersDep,
    asked: WindowQuery,
    pool: PoolQuery = None,
    cluster: ClusterQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Cost by context tier: per request, per million tokens, and memory-time per request. Computed once
    per attribution run (and period state), under a strong ETag (``If-None-Match`` with it: 304).
    ``cluster``: that cluster's lines (of a period, with the statement's cents)."""
    s, e = asked.resolve(settings)
    check_pool(session, settings, pool)
    check_cluster(settings, cluster)
    period = asked.period_name

    def answer() -> bytes:
        if period is not None:  # the statement's usage lines: the period's cents, as every view shows
            lines = build_statement(session, period).lines
            found = statement_tier_costs(lines, settings.tiers.names, pool, cluster)
        else:
            found = tier_costs(session, s, e, settings.tiers.names, pool, cluster)
        out = TiersOut(
            start=iso(s),
            end=iso(e),
            pool=pool,
            tiers=[
                to_schema(
                    TierOut,
                    t,
                    usd_per_request=_text(t.exact_usd_per_request),
                    usd_per_million_tokens=_text(t.exact_usd_per_million_tokens),
                )
                for t in found
            ],
            total_usd_micros=sum(t.total_usd_micros for t in found),
        )
        return out.model_dump_json().encode()

    only = () if cluster is None else (cluster,)  # one-cluster answers keep their identity
    identity = ("/v1/tiers", s, e, period, pool, *only)
    return answers.respond(session, period, identity, if_none_match, answer)


# the band's fields and break_even appear only where they exist: unset fields stay out of the body
@router.post("/v1/pricing/tiers", response_model=TierPricingOut, response_model_exclude_unset=True)
def pricing_tiers(
    price_list: PriceListIn,
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    period: Annotated[str, Query(max_length=20, description="YYYY-MM", examples=["2026-11"])],
    pool: PoolQuery = None,
) -> TierPricingOut:
    """What ``price_list`` would have earned against each context tier's and tenant's attributed cost in
    the period (frozen once closed): revenue, margin, break-even prices, which tiers subsidise which."""
    name = resolve_period(period)
    check_pool(session, settings, pool)
    parsed = parse_price_list(price_list.model_dump(), price_list.name, settings.currency)
    return TierPricingOut.model_validate(analyse_tiers(session, settings, name, parsed, pool).to_dict())


def check_pool(session: Session, settings: Settings, pool: str | None) -> None:
    """A pool filter naming a pool neither configured nor ever stored is a 404, as on every endpoint."""
    known = {p.name for p in settings.pools} | RESERVED_NAMES
    if pool is not None and pool not in known and not pool_exists(session, pool):
        raise NotFoundError(f"no pool named {pool!r}")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
