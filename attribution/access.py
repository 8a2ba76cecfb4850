"""Who is asking: the principal an API key stands for, shared by the API and the console.

Scopes: ``admin`` (everything), ``finance`` (all tenants; closes periods), ``billing`` (line items,
exports, statements), ``tenant:<id>`` (its own tenant's figures, nothing cluster-wide). The API
authenticates a bearer key and the console a signed cookie naming a key; both then ask the same questions
of the same :class:`Principal`, so a tenant key reads exactly the same tenant in both.

It lives below both (the console may not import the API), beside nothing of HTTP but the 403 it raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.errors import AttributionError
from attribution.store.apikeys import ADMIN, BILLING, FINANCE, TENANT_PREFIX, scopes_of
from attribution.store.tables import ApiKey

#: Scopes that see every tenant.
BROAD = frozenset({ADMIN, FINANCE, BILLING})
#: Scopes that see cluster-wide figures (pools, tiers, coverage) and close periods.
CLUSTER = frozenset({ADMIN, FINANCE})


class ForbiddenError(AttributionError):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated API key: its id and its scopes."""

    key_id: str
    scopes: frozenset[str]

    @classmethod
    def of(cls, row: ApiKey) -> Principal:
        return cls(row.key_id, frozenset(scopes_of(row)))

    @property
    def tenant(self) -> str | None:
        """The one tenant a tenant-scoped key may see; None for keys that see every tenant."""
        if self.scopes & BROAD:
            return None
        for scope in sorted(self.scopes):
            if scope.startswith(TENANT_PREFIX):
                return scope[len(TENANT_PREFIX) :]
        return None

    @property
    def all_tenants(self) -> bool:
        return bool(self.scopes & BROAD)

    @property
    def cluster_wide(self) -> bool:
        """Pools, tiers, coverage and closing periods: ``admin`` and ``finance``."""
        return bool(self.scopes & CLUSTER)

    def own_tenant(self, requested: str | None) -> str | None:
        """The tenant filter to apply: a tenant key's own tenant, whatever it asked for; asking for
        another tenant is a 403 (not an empty answer, which would look like a tenant without costs).
        A key with neither a broad nor a tenant scope reads nothing (the API's scope check refuses it
        before it gets here)."""
        if self.all_tenants:
            return requested
        mine = self.tenant
        if mine is None:
            raise ForbiddenError("this key has no scope the console can show")
        if requested is not None and requested != mine:
            raise ForbiddenError(f"this key may only read tenant {mine!r}")
        return mine
