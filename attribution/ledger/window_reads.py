"""What the attribution job reads of a window before it computes: the dirty marks it will clear, the GPU
counts, the engines' KV samples, the model's inputs built from them, the tenants' usage as columns, and
the incidents found in them.

These reads are the half of a run that waits on the database. They write nothing and no run writes what
they read (telemetry, collection state), so they can run ahead of the run that uses them, on a
connection of their own, while the window before is still being written (:mod:`attribution.ledger.span`).
Every statement of a read sees what was committed when it began (READ COMMITTED), in the order below:
the dirty marks first, so the data of every mark read is visible to the telemetry reads after it, and a
mark committed later stays for the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.errors import ConfigError
from attribution.ledger.incidents import find_incidents
from attribution.ledger.inputs import (
    ModelInputs,
    TelemetryColumns,
    build_inputs,
    group_telemetry,
    price_schedules,
)
from attribution.model.incidents import Incident
from attribution.model.vectorized_usage import UsageColumns
from attribution.store.beside import read_beside
from attribution.store.collection_state import PERIOD_FALLBACK, dirty_windows
from attribution.store.columns import tune_for_scans, usage_columns
from attribution.store.gpu_columns import GpuCountColumns, gpu_count_columns
from attribution.store.kv_sample_columns import KvSampleColumns, kv_sample_columns
from attribution.timeutil import iso


@dataclass(frozen=True, slots=True)
class WindowReads:
    """One window's reads, for ``[start, end)`` exactly (a run of another window must not use them)."""

    start: datetime
    end: datetime
    redone: list[int]
    """The dirty marks inside the window, read before the telemetry: the run clears them."""
    gpu_counts: GpuCountColumns
    kv_samples: KvSampleColumns
    inputs: ModelInputs
    usage: UsageColumns
    incidents: list[Incident]
    """What :func:`~attribution.ledger.incidents.find_incidents` finds in the window: it reads only
    telemetry and collection state too, so it runs with the reads (ahead, beside the engine before)."""


def read_window(
    settings: Settings, factory: sessionmaker[Session], session: Session, start: datetime, end: datetime
) -> WindowReads:
    """The reads of ``[start, end)`` on ``session``, with the usage on a connection of its own beside the
    GPU and KV reads and the building of the inputs (:mod:`attribution.store.beside`)."""
    cluster = settings.cluster
    # read before the telemetry: a mark committed by then has its data visible to the reads below
    dirty = dirty_windows(session, cluster)
    # a period-fallback mark waits for its period's end (the attribution loop's, not a run's to clear)
    inside = [d for d in dirty if start <= d.window_start and d.window_end <= end]
    redone = [d.id for d in inside if d.reason != PERIOD_FALLBACK]
    tune_for_scans(session)

    def read_usage(reader: Session) -> UsageColumns:
        tune_for_scans(reader)
        return usage_columns(reader, start, end, cluster)

    # GPU counts and KV samples are a few rows per interval; usage is the largest read; all as columns
    with read_beside(factory, session, read_usage) as read_usage_columns:
        gpu_counts = gpu_count_columns(session, start, end, cluster)
        telemetry = group_telemetry(gpu_counts)
        check_prices_and_inventory(settings, start, telemetry)
        kv = kv_sample_columns(session, start, end, cluster)
        inputs = build_inputs(settings, start, end, telemetry, kv)
        usage = read_usage_columns()
    incidents = find_incidents(session, settings, start, end, (gpu_counts, kv, usage))
    return WindowReads(start, end, redone, gpu_counts, kv, inputs, usage, incidents)


def check_prices_and_inventory(settings: Settings, start: datetime, telemetry: TelemetryColumns) -> None:
    """Refuse a window whose GPUs would be billed $0: the bill is inventory times price, so an empty
    inventory, a type without a price in effect at ``start``, or a sampled type missing from the
    inventory would write lines that sum to less than what the GPUs cost, and exit as if all were well."""
    owned = {gpu_type for gpu_type, count in settings.inventory.items() if count > 0}
    if not owned:
        raise ConfigError(
            "the inventory has no GPUs, so every line would be $0: declare them in [inventory] "
            '(e.g. "H100-80GB-SXM" = 8), each type with a [[gpu_prices]] entry'
        )
    schedules = price_schedules(settings)
    for gpu_type in sorted(owned):
        first = schedules[gpu_type][0].effective_from_s if schedules.get(gpu_type) else None
        if first is None or first > start.timestamp():
            since = "none" if first is None else f"the first starts {iso(datetime.fromtimestamp(first, UTC))}"
            raise ConfigError(
                f"GPU type {gpu_type!r} has no price in effect at {iso(start)} ({since}): add a "
                f"[[gpu_prices]] entry for it with effective_from at or before {iso(start)}"
            )
    # whole GPUs and the parts of MIG and shared GPUs alike
    sampled = telemetry.sampled_types()
    if missing := sorted(sampled - owned):
        raise ConfigError(
            f"GPUs of type {', '.join(map(repr, missing))} were sampled in this window but are not in the "
            "inventory, so their cost would be missing from the bill: add them to [inventory] with a "
            "[[gpu_prices]] entry"
        )
