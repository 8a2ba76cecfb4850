"""``attribution scheduler``'s settings: one job per collector plus the attribution job."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from attribution.config.sources import CollectorName
from attribution.config.types import StrictModel


class JobConfig(StrictModel):
    enabled: bool = True
    every_seconds: Annotated[int, Field(ge=1)] = 60


class SchedulerConfig(StrictModel):
    """``attribution scheduler``: one job per collector plus the attribution and deliveries jobs, each
    with its own ``enabled`` and period. Self-metrics are served on ``metrics_host:metrics_port`` (0
    turns them off)."""

    gpu: JobConfig = JobConfig()
    kv: JobConfig = JobConfig()
    gateway: JobConfig = JobConfig()
    attribution: JobConfig = JobConfig(every_seconds=300)
    deliveries: JobConfig = JobConfig(every_seconds=30)
    """Sends the outbox: pending budget alerts and closed periods' statements (docs/budgets.md). Runs
    only when a budget webhook or a statement delivery is configured."""
    attribution_align_seconds: Annotated[int, Field(ge=60)] = 3600
    attribution_max_window_seconds: Annotated[int, Field(ge=60)] = 86400
    attribution_max_usage_rows: Annotated[int, Field(ge=1)] = 5_000_000
    """A window holds at most this many tenant usage rows (at least one settlement window): a run's
    memory grows with them, about 1.7 GB for a day of 1,024 GPUs and 1,000 tenants (4.3 M rows)."""
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 300
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464

    def job(self, collector: CollectorName) -> JobConfig:
        return {CollectorName.GPU: self.gpu, CollectorName.KV: self.kv, CollectorName.GATEWAY: self.gateway}[
            collector
        ]
