"""Two clusters in one ledger, attributed: ``east`` (acme and globex on 4 GPUs) and ``west`` (acme only,
on 8 GPUs, so more of its bill is unallocated). Shared by the console, statement, usage and budget tests
of per-cluster views."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import run_attribution
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.api import END, MINUTES

CLUSTERS = ("east", "west")


def _in(cluster: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "cluster": cluster} for r in rows]


def seed_two_clusters(factory: sessionmaker[Session], **overrides: Any) -> Settings:
    """Store and attribute both clusters over ``[T0, END)``; the deployment's settings."""
    settings = small_cluster_settings(
        clusters=[{"name": "east"}, {"name": "west", "inventory": {"H100-SXM": 8}}], **overrides
    )
    east_usage = [create_usage_row(m, "acme", "0-4k", 120_000.0) for m in range(MINUTES)]
    east_usage += [create_usage_row(m, "globex", "0-4k", 80_000.0) for m in range(MINUTES)]
    west_usage = [create_usage_row(m, "acme", "4k-32k", 60_000.0) for m in range(MINUTES)]
    for cluster, usage in (("east", east_usage), ("west", west_usage)):
        gpus, kv = create_gpu_rows(MINUTES), create_kv_rows(MINUTES, 0.01)
        store(factory, _in(cluster, gpus), _in(cluster, kv), _in(cluster, usage))
    for view in settings.each_cluster():
        run_attribution(view, factory, T0, END)
    return settings
