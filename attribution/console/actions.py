"""Signing in and out, closing a period (after a confirmation page), and statement downloads.

Every POST is refused unless it comes from this site (``Origin``) and, once signed in, carries the form's
CSRF token; the session cookie is HttpOnly and SameSite=Strict, so no other site can use it either way.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from attribution.access import ForbiddenError
from attribution.appstate import SessionDep, SettingsDep, WriteSessionDep
from attribution.console.session import COOKIE, SESSION_SECONDS, Viewer, csrf_ok, same_origin, sign_in
from attribution.console.web import (
    PREFIX,
    SECURITY_HEADERS,
    MaybeViewerDep,
    console_secret,
    error_page,
    need,
    need_cluster,
    page,
    router,
)
from attribution.errors import AttributionError, NotFoundError
from attribution.ledger.close import close_period
from attribution.reports.commitments import commitment_section
from attribution.reports.export import lines_csv
from attribution.reports.focus import focus_csv, focus_rows, gpu_hour_rates
from attribution.reports.lineset import read_line_set
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_currency import in_currency
from attribution.reports.statement_html import build_statement_html
from attribution.reports.xlsx import build_statement_xlsx
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.timeutil import period_window

MAX_FORM_BYTES = 4096
PeriodPath = Annotated[str, Path(max_length=20, pattern=r"^\d{4}-\d{2}$")]
KINDS = {
    "statement.html": "text/html; charset=utf-8",
    "statement.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "line-items.csv": "text/csv; charset=utf-8",
    "focus.csv": "text/csv; charset=utf-8",
}


class CrossSiteError(AttributionError):
    status_code = 403
    code = "cross_site"


async def form_fields(request: Request) -> dict[str, str]:
    """The POSTed form (url-encoded, small); a POST from another site is refused here, before anything."""
    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise CrossSiteError("this form may only be sent from the console's own pages")
    body = b""
    async for chunk in request.stream():  # read no further than the limit: no key is needed to post here
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLargeError(f"a console form is at most {MAX_FORM_BYTES} bytes")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


class FormTooLargeError(AttributionError):
    status_code = 413
    code = "body_too_large"


FormDep = Annotated[dict[str, str], Depends(form_fields)]


@router.get(PREFIX + "/login")
def login_form(request: Request, viewer: MaybeViewerDep) -> Response:
    if viewer is not None:
        return RedirectResponse(f"{PREFIX}/", status_code=303)
    return page(request, "login.html", None, error="")


@router.post(PREFIX + "/login")
def login(request: Request, session: SessionDep, form: FormDep) -> Response:
    """Trade an API key (sent in the form body only) for a session cookie; a bad key is a 401 page."""
    cookie = sign_in(session, console_secret(request), form.get("key", ""))
    if cookie is None:
        return page(request, "login.html", None, status_code=401, error="invalid or revoked API key")
    response = RedirectResponse(f"{PREFIX}/", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _checked(viewer: Viewer | None, form: dict[str, str]) -> Viewer:
    found = need(viewer)
    if not csrf_ok(found, form.get("csrf")):
        raise CrossSiteError("the form's CSRF token is missing or stale; reload the page and retry")
    return found


@router.post(PREFIX + "/logout")
def logout(request: Request, viewer: MaybeViewerDep, form: FormDep) -> Response:
    try:
        _checked(viewer, form)
    except AttributionError as exc:
        return error_page(request, viewer, exc)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get(PREFIX + "/periods/{period}/close")
def close_form(
    period: PeriodPath, request: Request, session: SessionDep, settings: SettingsDep, viewer: MaybeViewerDep
) -> Response:
    """The confirmation page: what closing freezes, and the totals that will be issued."""
    try:
        who = need_cluster(viewer)
        period_window(period)
        statement = build_statement(session, period)
        start, end = period_window(period)
        attributed = cluster_cost_usd_micros(session, start, end)[1]
        expected = int((end - start).total_seconds()) // settings.interval_seconds
        return page(
            request,
            "close.html",
            who,
            session,
            period=period,
            s=statement,
            nonce=secrets.token_urlsafe(16),
            attributed=attributed,
            expected=expected,
        )
    except AttributionError as exc:
        return error_page(request, viewer, exc)


@router.post(PREFIX + "/periods/{period}/close")
def close(
    period: PeriodPath,
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
    form: FormDep,
) -> Response:
    """Close the period (the API's close, with the confirmation form's nonce as its idempotency key, so a
    double submit closes once); then back to the periods page."""
    try:
        who = _checked(viewer, form)
        need_cluster(who)
        if form.get("confirm") != period:
            raise ForbiddenError(f"type {period} in the confirmation box to close it")
        key = f"console-{who.key_id}-{form.get('nonce', '')[:64]}"
        close_period(session, period, settings.interval_seconds, key, settings.rates())
        return RedirectResponse(f"{PREFIX}/periods?closed={period}", status_code=303)  # committed on return
    except AttributionError as exc:
        # answered as a page, not raised: undo what the close flushed, so the commit on return finds nothing
        session.rollback()
        return error_page(request, viewer, exc)


@router.get(PREFIX + "/periods/{period}/{kind}")
def download(
    period: PeriodPath,
    kind: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: MaybeViewerDep,
) -> Response:
    """The period's statement (a tenant key: its own tenant's) as HTML, XLSX, line-item CSV or FOCUS CSV,
    made by the functions behind the CLI and the API exports."""
    try:
        who = need(viewer)
        tenant = who.own_tenant(None)
        if kind not in KINDS:
            return error_page(request, who, _unknown(kind))
        body = _document(session, settings, period, kind, tenant)
        scope = f"-{re.sub(r'[^A-Za-z0-9._-]+', '_', tenant)}" if tenant else ""
        filename = f"attribution-{period}{scope}-{kind}"  # ASCII only: a header cannot carry any name
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(body, media_type=KINDS[kind], headers=headers)
    except AttributionError as exc:
        return error_page(request, viewer, exc)


def _unknown(kind: str) -> AttributionError:
    return NotFoundError(f"no download named {kind!r}: use one of {', '.join(KINDS)}")


def _document(
    session: SessionDep, settings: SettingsDep, period: str, kind: str, tenant: str | None
) -> bytes:
    if kind == "statement.html":
        return build_statement_html(session, settings, period, tenant).encode()
    if kind == "statement.xlsx":
        return build_statement_xlsx(session, settings, period, tenant)
    if kind == "focus.csv":
        statement = build_statement(session, period)
        billed = settings.billing_currency_for(tenant)
        statement = in_currency(session, statement, settings.currency, billed, settings.rates())
        rates = gpu_hour_rates(session, period, settings.interval_seconds)
        committed = commitment_section(session, settings, period).months
        return focus_csv(focus_rows(statement, rates, tenant, committed)).encode()
    start, end = period_window(period)
    found = read_line_set(session, start, end, period)
    kept = [(x, x.total_cents) for x in found.lines if tenant is None or x.tenant == tenant]
    return lines_csv(start, end, kept, found.status).encode()
