"""Prometheus unreachable: a clear error, and nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.errors import SourceUnavailableError
from attribution.localprom import free_port
from attribution.store.tables import Base
from tests.builders import T0, small_cluster_settings


def test_connection_refused_raises_source_unavailable_and_writes_nothing(
    pg_tx: sessionmaker[Session],
) -> None:
    client = PromClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    with pytest.raises(SourceUnavailableError, match="unreachable"):
        collect_window(client, small_cluster_settings(), pg_tx, T0, T0 + timedelta(hours=1))
    with pg_tx() as session:
        for table in Base.metadata.sorted_tables:
            assert session.scalar(select(func.count()).select_from(table)) == 0, table.name
