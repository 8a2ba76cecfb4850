"""The answer cache never files one run's lines under another run's version (a torn or stale bill).

An attribution run that commits while the API reads a window (between the version and the lines, or
between two of the line set's statements) must not leave lines of one run cached under the key of
another. The run below commits for real, on Postgres, from a second session, in the middle of the read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.api import cache as cache_module
from attribution.api.cache import LineCache, _key, _version_token
from attribution.errors import DatabaseUnavailableError
from attribution.ledger.attribute import run_attribution
from attribution.reports.lineset import LineSet
from tests.builders import T0, create_usage_row, small_cluster_settings, store
from tests.support.api import END, store_two_tenants


def _commit_a_new_run_during_the_first_read(
    factory: sessionmaker[Session], real: Callable[..., LineSet], runs: int = 1
) -> Callable[..., LineSet]:
    """``read_line_set`` that lets ``runs`` attribution runs (new usage each) commit just before it reads."""
    done = {"runs": 0}

    def read(session: Session, start: datetime, end: datetime, period: str | None) -> LineSet:
        if done["runs"] < runs:
            done["runs"] += 1
            store(factory, [], [], [create_usage_row(done["runs"], "late", "0-4k", 50_000.0, requests=1)])
            run_attribution(small_cluster_settings(max_window_days=31), factory, T0, END)
        return real(session, start, end, period)

    return read


def test_a_run_committing_mid_read_is_not_cached_under_the_older_version(
    pg_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_two_tenants(pg_factory)
    run_attribution(small_cluster_settings(max_window_days=31), pg_factory, T0, END)
    cache = LineCache(max_windows=8)
    with pg_factory() as session:
        before = _key(session, T0, END, None)
    reader = _commit_a_new_run_during_the_first_read(pg_factory, cache_module.read_line_set)
    monkeypatch.setattr(cache_module, "read_line_set", reader)

    with pg_factory() as session:
        window = cache.window(session, T0, END)
    with pg_factory() as session:
        after = _key(session, T0, END, None)

    assert after != before, "the test's run did not commit"
    # the lines served are the new run's, and they are filed under the new run's version
    assert any(line.tenant == "late" for line in window.lines)
    assert window.version == _version_token(after)
    # the next request (new version) is served from the cache: no second read of the database
    with pg_factory() as session:
        again = cache.window(session, T0, END)
    assert again is window


def test_runs_that_keep_committing_give_a_retryable_503_not_a_torn_answer(
    pg_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_two_tenants(pg_factory)
    run_attribution(small_cluster_settings(max_window_days=31), pg_factory, T0, END)
    reader = _commit_a_new_run_during_the_first_read(
        pg_factory, cache_module.read_line_set, runs=cache_module.MAX_READ_TRIES
    )
    monkeypatch.setattr(cache_module, "read_line_set", reader)
    with pg_factory() as session, pytest.raises(DatabaseUnavailableError):
        LineCache(max_windows=8).window(session, T0, END)
