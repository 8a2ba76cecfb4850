"""Typed tables. Collected telemetry is keyed by interval so that re-collecting a window overwrites itself.

Every per-cluster table carries ``cluster``, last in its primary key, so one database holds the ledger of
several clusters (docs/scale-out.md); a row written without one is the default cluster's.

Every interval column holds the start of a half-open ``[start, start + interval)`` UTC interval. Money is
integer micro-USD (``BigInteger``); telemetry readings that are fractions by nature stay floats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.store.types import UTCDateTime

__all__ = ["DEFAULT_CLUSTER"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = String(200)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), str: NAME, int: BigInteger()}


class GpuSample(Base):
    """One GPU, or one part of it, in one interval, from dcgm-exporter. ``pool`` is None for a part
    serving no pool (unallocated). ``part`` is ``""`` for a whole GPU; a MIG instance (``mig:<id>``), a
    pod's share of a shared GPU (``.../pod:<ns/pod/container>``), the memory nobody holds (``mig-free``,
    ``.../free``) or a series that could not be placed (``.../unplaced``, with its ``problem``) otherwise.
    ``gpu_share_ppm``: the part's share of the physical GPU in parts per million; the parts of a GPU sum
    to one million; None for a whole GPU."""

    __tablename__ = "gpu_samples"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(primary_key=True)
    part: Mapped[str] = mapped_column(primary_key=True, default="")
    hostname: Mapped[str]
    gpu_model_name: Mapped[str]
    gpu_type: Mapped[str | None]
    pool: Mapped[str | None] = mapped_column(index=True)
    fb_used_bytes: Mapped[int | None]
    fb_free_bytes: Mapped[int | None]
    fb_reserved_bytes: Mapped[int | None]
    gpu_util_percent: Mapped[float | None] = mapped_column(Float)
    gpu_share_ppm: Mapped[int | None]
    problem: Mapped[str | None]
    power_milliwatts: Mapped[int | None]
    """The physical GPU's mean board power over the interval (dcgm ``DCGM_FI_DEV_POWER_USAGE``), the
    same on every part of the GPU; None where not reported."""
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class KvSample(Base):
    """One engine in one interval: mean KV usage and the capacity from ``vllm:cache_config_info``."""

    __tablename__ = "kv_samples"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    engine_id: Mapped[str] = mapped_column(primary_key=True)
    kv_usage_ratio: Mapped[float] = mapped_column(Float)
    kv_capacity_tokens: Mapped[int | None]
    kv_bytes_per_token: Mapped[int | None]
    requests_running: Mapped[float | None] = mapped_column(Float)
    requests_waiting: Mapped[float | None] = mapped_column(Float)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class TenantUsage(Base):
    """One tenant x context tier in one pool and interval, from the gateway's counters (increases)."""

    __tablename__ = "tenant_usage"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(primary_key=True)
    requests: Mapped[int]
    prompt_tokens: Mapped[int]
    generation_tokens: Mapped[int]
    kv_token_seconds: Mapped[float] = mapped_column(Float)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class Coverage(Base):
    """Which source had data for which interval: the evidence behind every ``__unmeasured__`` line."""

    __tablename__ = "coverage"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    series: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class ClusterCost(Base):
    """The cluster's bill for one interval, and the parts of it outside every pool."""

    __tablename__ = "cluster_costs"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    cost_usd_micros: Mapped[int]
    unallocated_usd_micros: Mapped[int]
    unmeasured_usd_micros: Mapped[int]
    overhead_usd_micros: Mapped[int] = mapped_column(server_default="0")
    gpus_in_inventory: Mapped[int] = mapped_column(Integer)
    gpus_sampled: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class PoolCost(Base):
    """One pool's cost structure in one interval (MODEL.md: KV in use, KV free, static)."""

    __tablename__ = "pool_costs"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    gpu_count: Mapped[int] = mapped_column(Integer)
    memory_bytes: Mapped[int]
    kv_capacity_bytes: Mapped[int]
    kv_in_use_bytes: Mapped[int]
    cost_usd_micros: Mapped[int]
    kv_in_use_usd_micros: Mapped[int]
    kv_free_usd_micros: Mapped[int]
    static_usd_micros: Mapped[int]
    idle_usd_micros: Mapped[int]
    unmeasured_usd_micros: Mapped[int]
    estimated: Mapped[bool] = mapped_column(Boolean)
    recovery_usd_micros: Mapped[int] = mapped_column(server_default="0")
    """The whole cost of an interval inside a recovery incident (its idle and unmeasured are then 0)."""
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)

    __table_args__ = (
        # the few pool-intervals with a telemetry gap: idle settlement sums their unmeasured cost over
        # the month outside a run's window (store/settlement.py), which read every row of it before
        Index(
            "ix_pool_costs_unmeasured",
            "cluster",
            "interval_start",
            postgresql_where=text("unmeasured_usd_micros <> 0"),
            sqlite_where=text("unmeasured_usd_micros <> 0"),
        ),
    )


class CostAndUsage:
    """The money and usage columns every kind of line carries: interval lines, statements, corrections."""

    kv_in_use_usd_micros: Mapped[int]
    static_usd_micros: Mapped[int]
    idle_usd_micros: Mapped[int]
    """The exact sum of the three kinds below (docs/insights.md, "Three kinds of idle")."""
    idle_cold_usd_micros: Mapped[int] = mapped_column(server_default="0")
    idle_warm_usd_micros: Mapped[int] = mapped_column(server_default="0")
    kv_headroom_usd_micros: Mapped[int] = mapped_column(server_default="0")
    unmeasured_usd_micros: Mapped[int]
    recovery_usd_micros: Mapped[int] = mapped_column(server_default="0")
    """The cost of recovery incidents this line carries (docs/insights.md, "Recovery incidents")."""
    total_usd_micros: Mapped[int]
    kv_token_seconds: Mapped[float] = mapped_column(Float)
    kv_byte_seconds: Mapped[float] = mapped_column(Float)
    requests: Mapped[int]
    prompt_tokens: Mapped[int]
    generation_tokens: Mapped[int]


class AttributedCost(CostAndUsage, Base):
    """One line: a tenant x tier's cost in one pool and interval, by component, with its usage."""

    __tablename__ = "attributed_costs"

    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(primary_key=True, index=True)
    tier: Mapped[str] = mapped_column(primary_key=True)
    estimated: Mapped[bool] = mapped_column(Boolean)
    covered_seconds: Mapped[int | None] = mapped_column(Integer)
    """Seconds of the line's grain attributed so far: less than the grain for the hour being collected (a
    partial line, replaced as collection advances); None (rows from before it was kept) for a whole grain."""
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class DailyLineSum(CostAndUsage, Base):
    """The lines of one UTC day summed per pool x tenant x tier (:mod:`attribution.store.rollups`),
    written in the transaction that writes the lines, so a view of whole days reads a row per day
    instead of one per line. Every :class:`CostAndUsage` column is the day's sum of that column;
    ``estimated`` is whether any line was; ``covered_seconds`` sums the lines' known covered seconds
    (NULL ones, whole grains from before it was kept, add nothing) and ``lines`` counts them."""

    __tablename__ = "daily_line_sums"

    day_start: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(primary_key=True)
    estimated: Mapped[bool] = mapped_column(Boolean)
    estimated_usd_micros: Mapped[int] = mapped_column(server_default="0")
    """The day's ``total_usd_micros`` on estimated lines: the estimated share of a window, from days."""
    covered_seconds: Mapped[int]
    lines: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class AttributionRun(Base):
    """An audit row per attribution run: what window, how many lines, what total."""

    __tablename__ = "attribution_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ran_at: Mapped[datetime]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    lines: Mapped[int]
    total_usd_micros: Mapped[int]
    cluster: Mapped[str] = mapped_column(server_default=DEFAULT_CLUSTER)


class Period(Base):
    """A billing period (a UTC calendar month, ``YYYY-MM``): open until finance closes it, then frozen."""

    __tablename__ = "periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    closed_at: Mapped[datetime | None]
    close_idempotency_key: Mapped[str | None]
    content_hash: Mapped[str | None] = mapped_column(String(64))
    total_usd_micros: Mapped[int | None]
    total_cents: Mapped[int | None]


class StatementRate(Base):
    """The exchange rate a closed period's statement converts to ``currency`` at, recorded at close so a
    later change of the configured rates never alters an issued statement (docs/currencies.md)."""

    __tablename__ = "statement_rates"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate: Mapped[str] = mapped_column(String(40))
    effective_from: Mapped[datetime]


class StatementLine(CostAndUsage, Base):
    """A line of a closed period's statement. Written once at close; never updated or deleted.

    ``charge_class`` is ``usage`` for the period's own cost and ``correction`` for a restatement of an
    earlier, closed ``charge_period`` billed in this one (FOCUS ChargeClass semantics).
    """

    __tablename__ = "statement_lines"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    charge_class: Mapped[str] = mapped_column(String(12), primary_key=True)
    charge_period: Mapped[str] = mapped_column(String(7), primary_key=True)
    pool: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(primary_key=True)
    total_cents: Mapped[int]
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class CorrectionLine(CostAndUsage, Base):
    """A change to a closed period's attributed cost, billed in a later open period.

    Each row is the difference between what the closed period's inputs now attribute and what its
    statement plus earlier corrections already billed; so computing corrections twice adds nothing.
    """

    __tablename__ = "correction_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    billing_period: Mapped[str] = mapped_column(String(7), index=True)
    charge_period: Mapped[str] = mapped_column(String(7), index=True)
    pool: Mapped[str]
    tenant: Mapped[str]
    tier: Mapped[str]
    created_at: Mapped[datetime]
    cluster: Mapped[str] = mapped_column(server_default=DEFAULT_CLUSTER)


class ApiKey(Base):
    """An API key of the reporting API. Only a SHA-256 of the secret is stored; ``key_id`` is the public
    part of the token (``attr_<key_id>_<secret>``) by which a request's key is found before the constant-time
    comparison. ``scopes`` is a JSON list of ``admin``, ``finance``, ``billing``, ``tenant:<id>`` (a tenant id
    may hold spaces); keys created before that hold them space-separated (``apikeys.scopes_of``)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str]
    scopes: Mapped[str] = mapped_column(String(1000))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class RecoveryIncident(Base):
    """A pool down or reloading while its GPUs were allocated (``attribution.model.incidents``), as the
    attribution run detected it: ``[start_at, end_at)`` on the interval grid, cut on the line grain (an hour
    by default) so the stored parts do not depend on the span of the run (the report joins them).
    ``cost_usd_micros`` is the pool's cost in those intervals (``pool_costs``, which its lines sum to).
    Re-attributing a window replaces the parts that start in it."""

    __tablename__ = "incidents"

    pool: Mapped[str] = mapped_column(primary_key=True)
    start_at: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    end_at: Mapped[datetime]
    cause: Mapped[str] = mapped_column(String(100))
    gpu_count: Mapped[int] = mapped_column(Integer)
    gpu_uuids: Mapped[str] = mapped_column(Text)
    """The pool's GPUs in the incident, sorted, comma-separated."""
    cost_usd_micros: Mapped[int]
    detected_at: Mapped[datetime]
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class BudgetAlert(Base):
    """A budget threshold crossed in a period (``attribution.model.budget.Crossing``), written once:
    the primary key is the crossing's delivery id, so a crossing fires one alert however often it is
    checked. ``payload`` is the JSON body fixed when it fired, so every retry sends the same bytes.
    ``status``: ``pending`` (to send), ``delivered``, ``failed`` (gave up after ``checks`` checks) or
    ``unsent`` (no webhook configured when it fired)."""

    __tablename__ = "budget_alerts"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    budget: Mapped[str]
    period: Mapped[str] = mapped_column(String(7), index=True)
    threshold_percent: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    budget_usd_micros: Mapped[int]
    amount_usd_micros: Mapped[int]
    """Spend (``actual``) or projection (``projected``) when it fired."""
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    fired_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt at delivering an alert or a statement (an HTTP request, or
    a write to the statements folder), failed or not, under the delivery id it carried."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float] = mapped_column(Float)


class StatementDelivery(Base):
    """A closed period's statement to deliver (the outbox row the close writes in its own transaction,
    so a statement is never sent for a close that rolled back). ``status`` as :class:`BudgetAlert`'s."""

    __tablename__ = "statement_deliveries"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
