"""Authentication and scopes: ``Authorization: Bearer attr_<id>_<secret>``, checked on every request.

Scopes: ``admin`` (everything), ``finance`` (all tenants; closes periods), ``billing`` (line items,
exports, statements), ``tenant:<id>`` (its own tenant's chargeback, line items, usage and exports, nothing
cluster-wide). A tenant key's tenant is forced into every query it makes (:meth:`Principal.own_tenant`),
so no filter, cursor or export reaches another tenant's lines. Missing or bad key: 401; wrong scope: 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from attribution.api.deps import SessionDep
from attribution.errors import AttributionError
from attribution.store.apikeys import ADMIN, BILLING, FINANCE, TENANT_PREFIX, authenticate, scopes_of


class AuthenticationError(AttributionError):
    status_code = 401
    code = "unauthenticated"


class ForbiddenError(AttributionError):
    status_code = 403
    code = "forbidden"


BROAD = frozenset({ADMIN, FINANCE, BILLING})

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `attribution keys create`, sent as `Authorization: Bearer <key>`.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    scopes: frozenset[str]

    @property
    def tenant(self) -> str | None:
        """The one tenant a tenant-scoped key may see; None for keys that see every tenant."""
        if self.scopes & BROAD:
            return None
        for scope in sorted(self.scopes):
            if scope.startswith(TENANT_PREFIX):
                return scope[len(TENANT_PREFIX) :]
        return None

    def own_tenant(self, requested: str | None) -> str | None:
        """The tenant filter to apply: a tenant key's own tenant, whatever it asked for; asking for
        another tenant is a 403 (not an empty answer, which would look like a tenant without costs)."""
        mine = self.tenant
        if mine is None:
            return requested
        if requested is not None and requested != mine:
            raise ForbiddenError(f"this key may only read tenant {mine!r}")
        return mine


def _principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    row = authenticate(session, credentials.credentials)
    if row is None:
        raise AuthenticationError("invalid or revoked API key")
    return Principal(row.key_id, frozenset(scopes_of(row)))


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
