"""A read beside the caller's: on its own connection when the factory can make one, on the caller's
session otherwise; its result, or its error, when asked for."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.beside import read_beside
from attribution.store.session import unit_of_work


def _pid(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_on_postgres_the_read_runs_on_another_connection_while_the_caller_goes_on(
    pg_factory: sessionmaker[Session],
) -> None:
    started = threading.Event()
    go_on = threading.Event()

    def read(session: Session) -> tuple[int, str]:
        started.set()
        assert go_on.wait(10), "the caller did not go on while the read was running"
        return _pid(session), threading.current_thread().name

    with unit_of_work(pg_factory) as session, read_beside(pg_factory, session, read) as result:
        assert started.wait(10)  # started before its result is asked for
        mine = _pid(session)  # the caller's own statement, while the read waits
        go_on.set()
        theirs, thread = result()
    assert theirs != mine and thread.startswith("read-beside")


def test_a_failed_read_raises_where_its_result_is_asked_for(pg_factory: sessionmaker[Session]) -> None:
    def read(session: Session) -> int:
        return int(session.execute(text("SELECT 1 / 0")).scalar_one())

    with unit_of_work(pg_factory) as session, read_beside(pg_factory, session, read) as result:
        assert _pid(session) > 0  # the caller's session is not affected
        with pytest.raises(Exception, match="division by zero"):
            result()


def test_a_factory_bound_to_one_connection_reads_on_the_callers_session_when_asked(
    pg_tx: sessionmaker[Session],
) -> None:
    calls: list[int] = []

    def read(session: Session) -> int:
        calls.append(_pid(session))
        return calls[-1]

    with unit_of_work(pg_tx) as session, read_beside(pg_tx, session, read) as result:
        assert calls == []  # nothing read before it is asked for
        assert result() == _pid(session)


def test_sqlite_reads_on_the_callers_session(sqlite_factory: sessionmaker[Session]) -> None:
    seen: list[Session] = []

    def read(session: Session) -> int:
        seen.append(session)
        return int(session.execute(text("SELECT 7")).scalar_one())

    with unit_of_work(sqlite_factory) as session, read_beside(sqlite_factory, session, read) as result:
        assert result() == 7 and seen == [session]
