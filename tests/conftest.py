"""Where the tests find their broker and database.

Each is taken from the environment when set (AMQP_URI, DATABASE_URL), else from testcontainers when a Docker
engine answers, else from the local defaults. Under CI=true a missing broker or database fails the run; it is
never skipped. Every session gets its own RabbitMQ vhost, and every test database is created fresh and dropped.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import quote, urlparse

import pytest
import requests

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672//"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # no engine, no socket, no permission: all mean "not here"
        return False


def _unavailable(what: str):
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and under CI=true that fails the run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def broker_uri(request) -> str:
    """The broker's base URI (default vhost)."""
    if os.environ.get("AMQP_URI"):
        uri = os.environ["AMQP_URI"]
    elif _docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        request.addfinalizer(container.stop)
        params = container.get_connection_params()
        uri = f"amqp://guest:guest@{params.host}:{params.port}//"
    else:
        uri = LOCAL_AMQP
    if not _answers(uri, 5672):
        _unavailable(f"RabbitMQ at {uri}")
    return uri


@pytest.fixture(scope="session")
def new_vhost(broker_uri):
    """Makes RabbitMQ vhosts of the session's own, deleted at its end: `new_vhost()` → an AMQP URI.

    Tests never share queues with a running `make run`, nor with another stack started by another test.
    """
    parsed = urlparse(broker_uri)
    user, password = parsed.username or "guest", parsed.password or "guest"
    api = f"http://{parsed.hostname}:15672/api"
    made: list[str] = []

    def make() -> str:
        vhost = f"gridlink-test-{uuid.uuid4().hex[:8]}"
        try:
            requests.put(f"{api}/vhosts/{vhost}", auth=(user, password), timeout=5).raise_for_status()
            requests.put(
                f"{api}/permissions/{vhost}/{user}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
                auth=(user, password),
                timeout=5,
            ).raise_for_status()
        except requests.RequestException as exc:
            _unavailable(f"the RabbitMQ management API at {api} ({exc})")
        made.append(vhost)
        return f"amqp://{user}:{password}@{parsed.hostname}:{parsed.port or 5672}/{quote(vhost, safe='')}"

    yield make
    for vhost in made:
        requests.delete(f"{api}/vhosts/{vhost}", auth=(user, password), timeout=10)


@pytest.fixture(scope="session")
def amqp_uri(new_vhost) -> str:
    """The session's own vhost, shared by the tests that do not need one to themselves."""
    return new_vhost()


@pytest.fixture(scope="session")
def pg_server(request) -> str | None:
    """An admin URL of a PostgreSQL server, or None where there is none and we are not under CI."""
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16").start()
        request.addfinalizer(container.stop)
        url = container.get_connection_url().replace("+psycopg2", "")
    else:
        url = LOCAL_PG
    if not url.startswith("postgresql") or not _answers(url, 5432):
        if IN_CI:
            pytest.fail(f"PostgreSQL at {url} is not available, and under CI=true that fails the run", pytrace=False)
        return None
    return url


@pytest.fixture(scope="session")
def databases(pg_server, tmp_path_factory):
    """Makes fresh, empty databases: `databases("dispatch")` → a URL, dropped at the end of the session.

    PostgreSQL when there is one (always under CI), else SQLite; `backend=` asks for one of them.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    created: list[str] = []
    admin = None
    folder = tmp_path_factory.mktemp("databases")

    def make(name: str = "db", backend: str | None = None) -> str:
        nonlocal admin
        if backend == "sqlite" or (backend is None and pg_server is None):
            return f"sqlite:///{folder / f'{name}-{uuid.uuid4().hex[:8]}.sqlite3'}"
        if pg_server is None:
            _unavailable("PostgreSQL")
        # Pre-pinged: `make chaos` restarts PostgreSQL between creating the databases and dropping them.
        admin = admin or create_engine(pg_server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        db = f"gltest_{name}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
        created.append(db)
        return make_url(pg_server).set(database=db).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for db in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def new_database(databases, request):
    """`new_database("dispatch")`: a fresh database for this test, on the test's `backend` when it has one."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    return lambda name="db": databases(name, backend)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Runs a storage test on both backends: SQLite (the zero-configuration default) and PostgreSQL."""
    return request.param


@pytest.fixture
def runtime_database(new_database, backend):
    """`runtime_database("timers", metadata, "dispatch")`: a `Database` of that source on a fresh database of the
    test's backend, with `metadata`'s tables created; disposed after the test."""
    from gridlink.runtime.db import Database

    made = []

    def make(name: str, metadata, source: str, **kwargs):
        db = Database(new_database(name), metadata, source, **kwargs)
        metadata.create_all(db.engine)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()
