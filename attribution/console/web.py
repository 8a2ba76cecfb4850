"""The console's plumbing: the router, templates, who is signed in, the period shown, and error pages.

Pages answer HTML for people: a missing session is a redirect to the sign-in page, a domain error (an
unknown tenant, a period that cannot close) is an HTML page with the same status and detail the API gives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.access import ForbiddenError
from attribution.appstate import SessionDep
from attribution.config import Settings
from attribution.console.session import COOKIE, Viewer, session_secret, viewer_of
from attribution.errors import AttributionError, NotFoundError
from attribution.reports.statement_html import money
from attribution.reports.statement_views import cents_half_even
from attribution.store.tables import Period
from attribution.timeutil import period_window

PREFIX = "/console"
router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("attribution.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["money"] = money
templates.filters["num"] = lambda v: f"{v:,}"
templates.filters["micros_money"] = lambda v: money(cents_half_even(v))
templates.filters["pct"] = lambda v: "" if v is None else f"{100 * v:.1f}%"
#: No script at all, nothing from elsewhere, never framed: the console needs none of it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequiredError(AttributionError):
    status_code = 401
    code = "unauthenticated"


def console_secret(request: Request) -> bytes:
    """The session secret this process signs with: ``api.session_secret_file``, or random (read when the
    app is created, see :func:`install_secret`)."""
    secret = request.app.state.console_secret
    assert isinstance(secret, bytes)
    return secret


def install_secret(state: Any, settings: Settings) -> None:
    """Read the session secret once, when the app is made: a bad file stops the server at start."""
    state.console_secret = session_secret(settings.api.session_secret_file)


def viewer_or_none(request: Request, session: SessionDep) -> Viewer | None:
    return viewer_of(session, console_secret(request), request.cookies.get(COOKIE))


MaybeViewerDep = Annotated[Viewer | None, Depends(viewer_or_none)]


def periods_known(session: Session) -> list[str]:
    """Every period the service has seen, newest first; the current month when there is none yet."""
    names = list(session.scalars(select(Period.period).order_by(Period.period.desc())))
    return names or [datetime.now(UTC).strftime("%Y-%m")]


def chosen_period(session: Session, period: str | None) -> str:
    """The period asked for (validated, as the API validates it), else the newest one known."""
    if period:
        period_window(period)
        return period.strip()
    return periods_known(session)[0]


def chosen_cluster(settings: Settings, cluster: str | None) -> str | None:
    """The cluster asked for (an unknown one is a 404, as the API's ``cluster=``), else None: every
    cluster. The selector lists :func:`cluster_choices`."""
    if not cluster:
        return None
    if cluster not in settings.cluster_names():
        raise NotFoundError(f"no cluster named {cluster!r}")
    return cluster


def cluster_choices(settings: Settings) -> list[str]:
    """The clusters a selector offers: none when the deployment has only one (nothing to choose)."""
    names = settings.cluster_names()
    return names if len(names) > 1 else []


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    session: Session | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the console's frame: navigation, the period picker, who is signed in."""
    body = templates.get_template(template).render(
        viewer=viewer,
        periods=periods_known(session) if session is not None and viewer is not None else [],
        path=request.url.path,
        prefix=PREFIX,
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(request: Request, viewer: Viewer | None, exc: AttributionError) -> Response:
    if isinstance(exc, SignInRequiredError):
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return page(request, "error.html", viewer, status_code=exc.status_code, code=exc.code, detail=exc.detail)


def need(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise SignInRequiredError("sign in first")
    return viewer


def need_cluster(viewer: Viewer | None) -> Viewer:
    """Pools, tiers, coverage and closing periods: admin and finance keys, as the API's FinanceDep."""
    found = need(viewer)
    if not found.cluster_wide:
        raise ForbiddenError("this key may not see cluster-wide figures (it needs admin or finance)")
    return found


@router.get(PREFIX + "/static/{name}")
def static(name: str) -> Response:
    """The console's own stylesheet (no CDN, no fonts from elsewhere)."""
    kinds = {"console.css": "text/css"}
    if name not in kinds:
        return Response(status_code=404)
    text = resources.files("attribution.console").joinpath("static", name).read_text("utf-8")
    return Response(text, media_type=kinds[name], headers={"Cache-Control": "max-age=3600"})
