"""Authentication and scopes: ``Authorization: Bearer attr_<id>_<secret>``, checked on every request.

Scopes: ``admin`` (everything), ``finance`` (all tenants; closes periods), ``billing`` (line items,
exports, statements), ``tenant:<id>`` (its own tenant's chargeback, line items, usage and exports, nothing
cluster-wide). A tenant key's tenant is forced into every query it makes (:meth:`Principal.own_tenant`),
so no filter, cursor or export reaches another tenant's lines. Missing or bad key: 401; wrong scope: 403.
The principal is the console's too (:mod:`attribution.access`); this module only authenticates the bearer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from attribution.access import ForbiddenError, Principal
from attribution.api.deps import SessionDep
from attribution.api.keycache import KeyCache
from attribution.errors import AttributionError
from attribution.store.apikeys import ADMIN, BILLING, FINANCE, authenticate

__all__ = ["BillingDep", "FinanceDep", "ForbiddenError", "Principal", "ReaderDep", "require"]


class AuthenticationError(AttributionError):
    status_code = 401
    code = "unauthenticated"


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `attribution keys create`, sent as `Authorization: Bearer <key>`.",
)


async def _principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The key's principal; a key verified less than ``api.key_cache_seconds`` ago is not read again
    (:mod:`attribution.api.keycache`), so a revocation takes effect within that bound. A kept key is
    answered on the event loop; a key's row is read on the thread pool."""
    if credentials is None:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    keys = request.app.state.keys
    assert isinstance(keys, KeyCache)
    # verified less than half the bound ago; past it the route verifies again, so a key in use is
    # refreshed before it lapses for the warm path, which sends one request here to have it done
    principal = keys.recent(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(
            keys.principal, credentials.credentials, partial(_verify, session)
        )
    if principal is None:
        raise AuthenticationError("invalid or revoked API key")
    return principal


def _verify(session: Session, token: str) -> Principal | None:
    row = authenticate(session, token)
    return None if row is None else Principal.of(row)


def require(*scopes: str, tenants: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting keys with ``admin`` or any of ``scopes``; tenant keys too if ``tenants``."""
    allowed = frozenset({ADMIN, *scopes})

    async def dependency(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        # no I/O: on the event loop, without a hop to the thread pool
        if principal.scopes & allowed:
            return principal
        if tenants and principal.tenant is not None:
            return principal
        wanted = sorted(allowed) + (["tenant:<id>"] if tenants else [])
        raise ForbiddenError(f"this key lacks a scope for this endpoint (one of {', '.join(wanted)})")

    return dependency


#: Every tenant's data, read-only (chargeback, line items, exports, usage); tenant keys see their own.
ReaderDep = Annotated[Principal, Depends(require(FINANCE, BILLING, tenants=True))]
#: Statements and the list of periods: what billing systems invoice from.
BillingDep = Annotated[Principal, Depends(require(FINANCE, BILLING))]
#: Cluster-wide figures (pools, coverage, tier pricing) and closing periods.
FinanceDep = Annotated[Principal, Depends(require(FINANCE))]
