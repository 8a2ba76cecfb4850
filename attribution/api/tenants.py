"""A tenant's usage and cost over time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from attribution.api.auth import ReaderDep
from attribution.api.convert import to_schema
from attribution.api.deps import AnswersDep, SessionDep, SettingsDep, WindowQuery
from attribution.api.etag import IfNoneMatch
from attribution.api.limits import Expensive
from attribution.api.params import NAME_PATTERN, CanonicalName, ClusterQuery, check_cluster, grain_seconds
from attribution.api.schemas import UsageOut, UsagePointOut
from attribution.reports.usage import check_step, tenant_usage_series
from attribution.timeutil import iso

router = APIRouter(tags=["tenants"], dependencies=[Expensive])  # per-key rate limit

TenantPath = Annotated[str, Path(pattern=NAME_PATTERN), CanonicalName]
StepQuery = Annotated[
    int, Query(ge=60, le=31 * 86400, description="bucket width in seconds, a multiple of the stored grain")
]


@router.get("/v1/tenants/{tenant}/usage", response_model=UsageOut)
def tenant_usage(
    tenant: TenantPath,
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    answers: AnswersDep,
    asked: WindowQuery,
    step_seconds: StepQuery = 3600,
    cluster: ClusterQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Requests, tokens, memory-time and cost per ``step_seconds`` bucket (UTC-aligned). Computed once
    per attribution run, under a strong ETag (``If-None-Match`` with it: 304)."""
    tenant = principal.own_tenant(tenant) or tenant
    s, e = asked.resolve(settings)
    check_cluster(settings, cluster)
    check_step(s, e, step_seconds, grain_seconds(settings), settings.api.max_series_points)

    def answer() -> bytes:
        points = tenant_usage_series(session, tenant, s, e, step_seconds, cluster)
        out = UsageOut(
            tenant=tenant,
            start=iso(s),
            end=iso(e),
            step_seconds=step_seconds,
            points=[to_schema(UsagePointOut, p) for p in points],
        )
        return out.model_dump_json().encode()

    only = () if cluster is None else (cluster,)  # one-cluster answers keep their identity
    identity = ("/v1/tenants/usage", tenant, s, e, step_seconds, *only)
    return answers.respond(session, None, identity, if_none_match, answer)
