"""The console's pages: overview, tenants and one tenant, context tiers, pools, coverage, budgets,
periods."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from attribution.appstate import SessionDep, SettingsDep
from attribution.budgets.status import budget_statuses
from attribution.console import figures
from attribution.console.web import (
    PREFIX,
    MaybeViewerDep,
    chosen_cluster,
    chosen_period,
    cluster_choices,
    error_page,
    need,
    need_cluster,
    page,
    router,
)
from attribution.errors import AttributionError, NotFoundError
from attribution.model.vocabulary import RESERVED_NAMES
from attribution.reports.coverage import coverage_report
from attribution.reports.monthly import build_statement_report
from attribution.reports.period_statement import build_statement
from attribution.reports.pools import pool_summaries
from attribution.reports.pricelist import load_price_list
from attribution.reports.pricing import analyse_lines
from attribution.reports.statement_views import cents_half_even
from attribution.reports.tiers import statement_tier_costs
from attribution.store.budgets import alerts_of
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.pools import pool_exists
from attribution.store.tables import Period
from attribution.timeutil import period_window

PeriodParam = Annotated[str | None, Query(max_length=20)]
ClusterParam = Annotated[str | None, Query(max_length=200)]


@router.get("/")
def root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX + "/")
def overview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
) -> Response:
    """A period's bill, what was attributed and how (KV in use, static, idle, unmeasured), corrections
    and coverage; for a tenant key, that tenant's own statement."""
    try:
        who = need(viewer)
        name = chosen_period(session, period)
        report = build_statement_report(session, settings, name, who.own_tenant(None))
        chart = figures.component_chart(
            "chart-tenants", f"Cost by tenant, {name}", report.tenants, "tenant", settings.currency
        )
        main, parts = figures.headline(report)
        return page(
            request,
            "overview.html",
            who,
            session,
            period=name,
            r=report,
            headline=main,
            parts=parts,
            coverage=figures.coverage_line(report),
            chart=chart,
        )
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/tenants")
def tenants(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
) -> Response:
    """Every tenant's charge for the period; a tenant key goes straight to its own page."""
    try:
        who = need(viewer)
        name = chosen_period(session, period)
        mine = who.own_tenant(None)
        if mine is not None:
            return RedirectResponse(f"{PREFIX}/tenants/{quote(mine, safe='')}?period={name}", status_code=303)
        report = build_statement_report(session, settings, name)
        chart = figures.component_chart(
            "chart-tenants", f"Cost by tenant, {name}", report.tenants, "tenant", settings.currency
        )
        return page(request, "tenants.html", who, session, period=name, r=report, chart=chart)
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/tenants/{tenant:path}")  # a tenant id may hold a slash
def tenant(
    tenant: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
) -> Response:
    """One tenant: its cost by context tier, by pool and by day, each summing to its statement total."""
    try:
        who = need(viewer)
        name = chosen_period(session, period)
        report = build_statement_report(session, settings, name, who.own_tenant(tenant))
        days = [r for r in report.daily if r.key[0][:1].isdigit()]
        chart = figures.component_chart(
            "chart-days", f"{tenant}: cost per day, {name}", days, "day (UTC)", settings.currency
        )
        by_tier = [replace(r, key=r.key[1:]) for r in report.tenant_tiers]
        return page(
            request,
            "tenant.html",
            who,
            session,
            period=name,
            r=report,
            tenant=tenant,
            by_tier=by_tier,
            chart=chart,
        )
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/tiers")
def tiers(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
    pool: Annotated[str | None, Query(max_length=200)] = None,
    cluster: ClusterParam = None,
) -> Response:
    """Cost per request and per 1M tokens by context tier, as ``/v1/tiers`` computes it; of one cluster's
    lines when one is chosen (their cents are the statement's, so the clusters' tiers sum to the whole)."""
    try:
        who = need_cluster(viewer)
        name = chosen_period(session, period)
        only = chosen_cluster(settings, cluster)
        pool = pool or None
        known = {p.name for p in settings.pools} | RESERVED_NAMES
        if pool is not None and pool not in known and not pool_exists(session, pool):
            raise NotFoundError(f"no pool named {pool!r}")
        statement = build_statement(session, name)
        lines = [x for x in statement.lines if only is None or x.cluster == only]
        found = statement_tier_costs(lines, settings.tiers.names, pool)
        rows = [(t, figures.per_million_cents(t), figures.per_request_text(t)) for t in found]
        listed = settings.api.console_price_list
        analysis, problem = None, ""
        if listed is not None:
            try:  # a bad price list costs the comparison, not the page
                prices = load_price_list(listed, settings.currency)
            except AttributionError as exc:
                problem = f"api.console_price_list: {exc.detail}"
            else:
                analysis = analyse_lines(lines, settings, prices, name, statement.status, pool)
        return page(
            request,
            "tiers.html",
            who,
            session,
            period=name,
            pool=pool,
            pools=sorted(p.name for p in settings.pools),
            cluster=only,
            clusters=cluster_choices(settings),
            rows=rows,
            total_cents=sum(t.total_cents for t in found),
            chart=figures.tier_chart(found, settings.currency),
            currency=settings.currency,
            a=analysis,
            price_list_problem=problem,
        )
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/pools")
def pools(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
    cluster: ClusterParam = None,
) -> Response:
    """Each pool's cost structure, KV cache use and GPU utilisation, as ``/v1/pools`` computes them; of
    one cluster's pools, against that cluster's bill, when one is chosen."""
    try:
        who = need_cluster(viewer)
        name = chosen_period(session, period)
        only = chosen_cluster(settings, cluster)
        window = period_window(name)
        found = pool_summaries(session, *window, settings.interval_seconds, cluster=only)
        rows = figures.pool_rows(found)
        return page(
            request,
            "pools.html",
            who,
            session,
            period=name,
            rows=rows,
            part_names=figures.POOL_PART_NAMES,
            totals=[sum(r.part_cents[i] for r in rows) for i in range(len(figures.POOL_PARTS))],
            total_cents=sum(r.summary.cost_cents for r in rows),
            bill_cents=cents_half_even(cluster_cost_usd_micros(session, *window, only)[0]),
            chart=figures.pool_chart(rows, settings.currency),
            cluster=only,
            clusters=cluster_choices(settings),
        )
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/coverage")
def coverage(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
) -> Response:
    """Per collector and source: intervals present, estimated, missing, never collected; the gaps."""
    try:
        who = need_cluster(viewer)
        name = chosen_period(session, period)
        found = coverage_report(session, *period_window(name), settings.interval_seconds)
        return page(request, "coverage.html", who, session, period=name, c=found)
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/budgets")
def budgets(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    period: PeriodParam = None,
) -> Response:
    """Each budget's spend, projection and crossings with their alerts' status, as ``/v1/budgets``."""
    try:
        who = need_cluster(viewer)
        name = chosen_period(session, period)
        rows = budget_statuses(session, settings, name)
        alerts = {a.delivery_id: a.status for a in alerts_of(session, name)}
        return page(request, "budgets.html", who, session, period=name, rows=rows, alerts=alerts)
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/periods")
def periods(
    request: Request,
    session: SessionDep,
    viewer: MaybeViewerDep,
    closed: Annotated[str, Query(max_length=7)] = "",
) -> Response:
    """Every period with status, total and hash; downloads; closing for admin and finance keys."""
    try:
        who = need(viewer)
        who.own_tenant(None)
        rows = list(session.scalars(select(Period).order_by(Period.period.desc())))
        # an open period's total is provisional: its statement as it would be issued now
        totals = {
            p.period: p.total_cents
            if p.status == "closed"
            else build_statement(session, p.period).total_cents
            for p in rows
            if who.all_tenants
        }
        return page(request, "periods.html", who, session, rows=rows, totals=totals, closed=closed)
    except AttributionError as exc:
        return error_page(request, viewer, exc)
