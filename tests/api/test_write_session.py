"""The write session's transaction belongs to the framework: what a route flushes is committed when it
returns, before the answer is sent, and rolled back when it raises; a read session never commits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.api.deps import SessionDep, WriteSessionDep
from attribution.errors import ConflictError
from attribution.store.tables import Period
from tests.builders import small_cluster_settings


def _client(factory: sessionmaker[Session]) -> TestClient:
    app = create_app(small_cluster_settings(), factory)

    @app.post("/probe/write/{name}")
    def write(name: str, session: WriteSessionDep) -> dict[str, str]:
        session.add(Period(period=name, status="open"))
        session.flush()
        return {"added": name}

    @app.post("/probe/add/{name}")
    def add(name: str, session: WriteSessionDep) -> dict[str, str]:
        session.add(Period(period=name, status="open"))  # not flushed: the INSERT runs at the commit
        return {"added": name}

    @app.post("/probe/fail/{name}")
    def fail(name: str, session: WriteSessionDep) -> dict[str, str]:
        session.add(Period(period=name, status="open"))
        session.flush()
        raise ConflictError("refused after a flush")

    @app.post("/probe/read/{name}")
    def read(name: str, session: SessionDep) -> dict[str, str]:
        session.add(Period(period=name, status="open"))
        session.flush()
        return {"added": name}

    return TestClient(app, raise_server_exceptions=False)


def _stored(factory: sessionmaker[Session], name: str) -> bool:
    with factory() as session:
        return session.get(Period, name) is not None


@pytest.mark.parametrize(
    ("route", "status", "kept"),
    [("write", 200, True), ("add", 200, True), ("fail", 409, False), ("read", 200, False)],
)
def test_the_framework_owns_the_transaction(
    pg_factory: sessionmaker[Session], route: str, status: int, kept: bool
) -> None:
    response = _client(pg_factory).post(f"/probe/{route}/2031-01")
    assert response.status_code == status
    assert _stored(pg_factory, "2031-01") is kept


def test_a_failed_commit_is_answered_with_its_error(pg_factory: sessionmaker[Session]) -> None:
    with pg_factory() as session:
        session.add(Period(period="2031-02", status="open"))
        session.commit()
    response = _client(pg_factory).post("/probe/add/2031-02")  # the primary key is taken: commit fails
    assert response.status_code == 409  # not a 200 sent before the commit
    assert response.json()["error"] == "conflict"
