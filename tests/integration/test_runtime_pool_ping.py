"""Pooled PostgreSQL connections are pinged on checkout only after idling: a dead idle connection is replaced
without the caller noticing, and a connection checked in moments ago is used without a ping."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from gridlink.runtime.db import make_engine, ping_when_idle


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.fixture
def engines(new_database):
    url = new_database("pool")
    engine, killer = make_engine(url, pool_size=1, max_overflow=0), make_engine(url)

    def kill(pid: int) -> None:
        with killer.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()

    yield engine, kill
    killer.dispose()
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_dead_connection_that_idled_is_replaced_on_checkout(engines, backend):
    engine, kill = engines
    ping_when_idle(engine, 0.0)  # every checked-in connection counts as idle
    first = backend_pid(engine)
    kill(first)
    assert backend_pid(engine) != first  # no error: the ping found it dead and the pool opened another


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_connection_checked_in_moments_ago_is_not_pinged(engines, backend):
    engine, kill = engines
    first = backend_pid(engine)
    kill(first)
    # Not pinged, so the first statement finds the server gone; the pool is invalidated and the next one works.
    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    assert backend_pid(engine) != first


def test_a_request_that_meets_a_dropped_connection_is_told_to_retry():
    from gridlink.runtime.entrypoints import HttpEntrypoint

    entrypoint = HttpEntrypoint("POST", "/reports")
    entrypoint.error_map = {}
    dropped = DBAPIError("SELECT 1", {}, ConnectionError("server closed the connection"), connection_invalidated=True)
    response = entrypoint.response_from_exception(dropped)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert b'"unavailable"' in response.data
    shutting_down = OperationalError("SELECT 1", {}, ConnectionError("the database system is shutting down"))
    assert entrypoint.response_from_exception(shutting_down).status_code == 503
    programming = ProgrammingError("SELEC 1", {}, ValueError("syntax error"))
    assert entrypoint.response_from_exception(programming).status_code == 500
