"""Where the store's query functions used to live, kept so that callers outside ``store/`` and
``reports/`` import unchanged while issue 15 moves them; nothing is defined here.

Each name's home: bulk writes in :mod:`attribution.store.writes`, the attribution job's inputs in
:mod:`attribution.store.inputs`, collection state (watermarks, dirty windows, source coverage, the
collection log) in :mod:`attribution.store.collection_state`, the cluster's bill in
:mod:`attribution.store.cluster`. Import from there; this module goes once no caller is left.
"""

from __future__ import annotations

from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.collection_state import (
    advance_watermark,
    all_watermarks,
    clear_dirty,
    coverage_counts,
    dirty_windows,
    ensure_watermark,
    intervals_covered_by_all,
    intervals_with_status,
    lock_watermark,
    log_chunk,
    mark_dirty,
    record_failure,
    source_coverage,
    write_source_coverage,
)
from attribution.store.expressions import AnyRow
from attribution.store.inputs import MIB_BYTES, engine_activity, gpu_counts, kv_samples, tenant_usage
from attribution.store.writes import (
    _PG_COPY_TYPES,
    BATCH_ROWS,
    COPY_MIN_ROWS,
    bulk_upsert,
    clear_gpu_parts,
    copy_insert,
    insert_all,
    replace_window,
    upsert,
)

__all__ = [
    "BATCH_ROWS",
    "COPY_MIN_ROWS",
    "MIB_BYTES",
    "_PG_COPY_TYPES",
    "AnyRow",
    "advance_watermark",
    "all_watermarks",
    "bulk_upsert",
    "clear_dirty",
    "clear_gpu_parts",
    "cluster_cost_usd_micros",
    "copy_insert",
    "coverage_counts",
    "dirty_windows",
    "engine_activity",
    "ensure_watermark",
    "gpu_counts",
    "insert_all",
    "intervals_covered_by_all",
    "intervals_with_status",
    "kv_samples",
    "lock_watermark",
    "log_chunk",
    "mark_dirty",
    "record_failure",
    "replace_window",
    "source_coverage",
    "tenant_usage",
    "upsert",
    "write_source_coverage",
]
