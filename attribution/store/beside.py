"""A read on a connection of its own, in a thread, while the caller goes on with its own work.

The attribution job alternated between two waits: Python idle while Postgres read the window's usage
(its largest read), Postgres idle while Python grouped the GPU counts and built the model's inputs. With
the usage read on a second connection beside them, the two overlap (psycopg releases the GIL while it
waits on the server), on the two cores a small deployment has.

What the second connection sees is what the caller's would have: the job reads under READ COMMITTED,
where every statement takes its own snapshot, and the second connection's statements start after the
caller's earlier reads (the dirty marks the job reads first, so that a mark's data is visible to the
reads after it). A factory bound to one connection (a test's rolled-back transaction) has no second
connection to give, and SQLite serialises its readers anyway: there the read runs on the caller's session
when its result is asked for, exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.dialect import is_postgres
from attribution.store.session import unit_of_work

T = TypeVar("T")


@contextmanager
def read_beside(
    factory: sessionmaker[Session], session: Session, read: Callable[[Session], T]
) -> Iterator[Callable[[], T]]:
    """Start ``read`` on a session of its own (its own transaction, rolled back or committed with nothing
    written) and yield a function that waits for its result; a failed read raises there. Leaving the
    block waits for the thread, so no read outlives the caller's transaction."""
    if not (is_postgres(session) and has_own_connections(factory)):
        yield lambda: read(session)
        return

    def own() -> T:
        with unit_of_work(factory) as other:
            return read(other)

    pool = ThreadPoolExecutor(1, thread_name_prefix="read-beside")
    future = pool.submit(own)
    try:
        yield future.result
    finally:
        pool.shutdown(wait=True)


def has_own_connections(factory: sessionmaker[Session]) -> bool:
    """Whether ``factory`` can give a thread a connection of its own to read on while the caller's
    transaction goes on: a Postgres engine (not a test's factory bound to one connection; SQLite
    serialises its readers behind a writer anyway)."""
    bind = factory.kw.get("bind")
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"
