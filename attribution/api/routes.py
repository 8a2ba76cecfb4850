"""Routes: each a few lines that call one function and return a schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from attribution.api.app import SessionDep, SettingsDep
from attribution.api.schemas import ChargebackOut, Health
from attribution.reports.chargeback import build_chargeback
from attribution.timeutil import align_window, parse_instant

router = APIRouter()

Instant = Annotated[str, Query(description="ISO 8601 UTC instant, e.g. 2026-11-01T00:00:00Z")]


@router.get("/healthz", response_model=Health, tags=["operations"])
def healthz() -> Health:
    return Health(status="ok")


@router.get("/v1/chargeback", response_model=ChargebackOut, tags=["chargeback"])
def chargeback(start: Instant, end: Instant, session: SessionDep, settings: SettingsDep) -> ChargebackOut:
    """Per-tenant chargeback over the half-open window ``[start, end)``, from stored results."""
    window = align_window(
        parse_instant(start),
        parse_instant(end),
        settings.interval_seconds,
        settings.max_window_days,
    )
    cb = build_chargeback(session, *window, settings.interval_seconds, settings.currency)
    return ChargebackOut.model_validate(cb.to_dict())
