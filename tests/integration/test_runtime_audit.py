"""The audit row of a route that declares its committed status is written in the transaction of its change, against
a real RabbitMQ and database: one row, committed with the change or not at all, and any other answer recorded too."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, text

from bench.stacks import free_ports
from gridlink.runtime.config import load_settings
from gridlink.runtime.dependencies import Storage
from gridlink.runtime.entrypoints import ApiError, http, json_response, parse_json_body
from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(64)))
add_messaging_tables(metadata)


def _add(storage, body: dict) -> None:
    for _ in range(body.get("commits", 1)):
        with storage.uow() as uow:
            uow.session.execute(insert(things).values(name=body["name"]))
            uow.commit()


class AuditedService:
    name = "raudit"

    storage = Storage(metadata)

    @http("POST", "/things", committed_status=201)
    def add(self, request):
        body = parse_json_body(request)
        _add(self.storage, body)
        if body.get("fail_after_commit"):
            raise RuntimeError("failed after the commit, on purpose")
        return json_response({"name": body["name"]}, body.get("answer", 201))

    @http("POST", "/refused", committed_status=201)
    def refused(self, request):
        raise ApiError("refused before any change")

    @http("POST", "/separately")
    def separately(self, request):
        _add(self.storage, parse_json_body(request))
        return json_response({}, 201)


@pytest.fixture
def service(container_factory, amqp_uri, new_database, backend):
    url = new_database("raudit")
    engine = create_engine(url)
    metadata.create_all(engine)
    (port,) = free_ports(1)
    settings = load_settings("raudit", port, {"AMQP_URI": amqp_uri, "DATABASE_URL": url, "HTTP_PORT": str(port)})
    container = container_factory(AuditedService, settings.nameko_config())
    container.start()
    yield f"http://127.0.0.1:{port}", engine
    container.stop()
    engine.dispose()


def _audit(engine, path: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status FROM audit_log WHERE action = :a ORDER BY id"), {"a": f"POST {path}"})
        return [r.status for r in rows]


def _same_transaction(engine, name: str, path: str) -> bool:
    """PostgreSQL: whether the first thing of that name and the route's audit row were written by one transaction
    (the same `xmin`)."""
    with engine.connect() as conn:
        first = "SELECT xmin::text FROM things WHERE name = :n ORDER BY id LIMIT 1"
        thing = conn.execute(text(first), {"n": name}).scalar_one()
        audit = conn.execute(text("SELECT xmin::text FROM audit_log WHERE action = :a"), {"a": f"POST {path}"})
        return thing in {r[0] for r in audit}


def test_the_row_is_written_once_with_the_change(service, backend):
    base, engine = service
    answer = requests.post(f"{base}/things", json={"name": "lamp", "commits": 2}, timeout=10)
    assert answer.status_code == 201
    assert _audit(engine, "/things") == [201]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM things")).scalar_one() == 2
    if backend == "postgresql":
        assert _same_transaction(engine, "lamp", "/things")
        # the check can tell: a route without a committed status writes its row in a transaction of its own
        assert requests.post(f"{base}/separately", json={"name": "bench"}, timeout=10).status_code == 201
        assert _audit(engine, "/separately") == [201]
        assert not _same_transaction(engine, "bench", "/separately")


def test_a_refused_request_is_recorded_on_its_own(service):
    base, engine = service
    answer = requests.post(f"{base}/refused", json={}, timeout=10)
    assert answer.status_code == 400
    assert _audit(engine, "/refused") == [400]


@pytest.mark.parametrize(
    ("body", "statuses"), [({"fail_after_commit": True}, [201, 500]), ({"answer": 200}, [201, 200])]
)
def test_an_answer_other_than_the_declared_one_is_recorded_as_well(service, body, statuses):
    base, engine = service
    answer = requests.post(f"{base}/things", json={"name": "pipe", **body}, timeout=10)
    assert answer.status_code == statuses[1]
    # the change was committed with its row, and the caller's answer is on record beside it
    assert _audit(engine, "/things") == statuses
