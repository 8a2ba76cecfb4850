"""Budgets and where their alerts go: a monthly budget per tenant or for the whole cluster, thresholds in
percent, and a webhook whose requests are signed with a secret read from a file (docs/budgets.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from attribution.config.types import StrictModel, UsdAmount, unreserved_name, usd_to_micros


class BudgetConfig(StrictModel):
    """A monthly budget (UTC calendar month) of one tenant, or of the whole cluster when ``tenant`` is
    unset; of one cluster's lines only when ``cluster`` names one of ``[[clusters]]``. An alert fires
    once per period, threshold and kind (``actual`` spend, ``projected`` spend)."""

    tenant: str | None = None
    cluster: str | None = None
    """Count only this cluster's lines (a ``[[clusters]]`` name); unset: every cluster's."""
    monthly_usd: UsdAmount
    thresholds: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(min_length=1)] = [50, 80, 100]
    """Percentages of ``monthly_usd``; an alert fires when spend (or its projection) reaches one."""

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, v: str | None) -> str | None:
        return None if v is None else unreserved_name(v, "tenant")

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, v: str | None) -> str | None:
        return None if v is None else unreserved_name(v, "cluster")

    @field_validator("thresholds")
    @classmethod
    def _sorted(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("thresholds must be distinct percentages, e.g. [50, 80, 100]")
        return sorted(v)

    @field_validator("monthly_usd")
    @classmethod
    def _positive(cls, v: str) -> str:
        if usd_to_micros(v) == 0:
            raise ValueError("must be more than 0: a zero budget has no ratio to alert on")
        return v

    @property
    def monthly_usd_micros(self) -> int:
        return usd_to_micros(self.monthly_usd)

    @property
    def name(self) -> str:
        """``tenant:<name>`` or ``cluster``, then ``@<cluster>`` for one cluster's budget: the budget's key in
        alerts, delivery ids and the log (a budget of every cluster keeps the name it always had, so its
        delivery ids, and the alerts already sent, stay the same)."""
        name = "cluster" if self.tenant is None else f"tenant:{self.tenant}"
        return name if self.cluster is None else f"{name}@{self.cluster}"


class WebhookConfig(StrictModel):
    """Where budget alerts are POSTed: JSON, signed with HMAC-SHA256 over ``<timestamp>.<body>`` with the
    secret in ``secret_file`` (headers ``X-Attribution-Signature: sha256=<hex>``,
    ``X-Attribution-Timestamp``, ``X-Attribution-Delivery``)."""

    url: str | None = None
    """Unset: alerts are recorded (and shown as metrics) but not sent."""
    secret_file: Path | None = None
    """A file holding the signing secret (at least 16 bytes); required with ``url``."""
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    """Tries per check; 2xx is delivered, anything else is retried with exponential backoff."""
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    """The wait after the first failure, doubled after each next one."""
    max_checks: Annotated[int, Field(ge=1, le=1000)] = 24
    """Checks (each with ``attempts`` tries) an undelivered alert is retried on before it is marked
    ``failed``."""
    retry_after_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """The scheduler's ``deliveries`` job retries an alert its last pass could not deliver only this long
    after that pass's last try, doubled after each failed pass, at most an hour: a receiver that is down
    is not hammered every 30 s, and ``max_checks`` passes span hours, not minutes. A check by hand
    (``attribution budgets check``) retries at once."""

    @model_validator(mode="after")
    def _secret_with_url(self) -> Self:
        if self.url is not None and self.secret_file is None:
            raise ValueError("url needs secret_file: alerts are always signed")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        return self


class StatementDeliveryConfig(StrictModel):
    """Where a period's issued statement goes when the period closes: a folder (one JSON file per
    period, written atomically), a webhook (signed like the alerts), both, or neither."""

    folder: Path | None = None
    """A directory the service may write to; ``statement-YYYY-MM-<hash>.json`` appears in it."""
    webhook: WebhookConfig = WebhookConfig()
