"""Every route of the API, one router per resource; each route calls one report and returns a schema."""

from __future__ import annotations

from fastapi import APIRouter

from attribution.api import budgets, chargeback, cluster, exports, insights, opencost, ops, periods, tenants

router = APIRouter()
for module in (ops, chargeback, tenants, cluster, periods, exports, insights, opencost, budgets):
    router.include_router(module.router)
