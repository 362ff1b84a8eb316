"""The transactional outbox and its relay against a real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import timedelta

import amqp
import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from gridlink.runtime import metrics
from gridlink.runtime.audience import Audience
from gridlink.runtime.bus import Bus
from gridlink.runtime.lean_session import LeanSession
from gridlink.runtime.outbox import OutboxRelay
from tests.integration.messaging_service import metadata

PAYLOAD = {
    "order_id": "o-1",
    "case_id": None,
    "service_code": "elder_visit",
    "grid_code": "150302001001001",
    "status": "pending_review",
}


@pytest.fixture
def database(runtime_database):
    return runtime_database("outbox", metadata, "volunteer")


def partner_queue(conn: Connection, source: str, event_type: str):
    """A queue bound to one event type of a service's exchange, as a partner's would be, declared."""
    queue = Queue(
        f"partner-{uuid.uuid4().hex[:6]}",
        Exchange(f"{source}.events", type="topic", durable=True),
        routing_key=event_type,
        auto_delete=False,
    )(conn.default_channel)
    queue.declare()
    return queue


@pytest.fixture
def bound_queue(amqp_uri):
    """A queue bound to volunteer's order_created, as a partner's would be."""
    with Connection(amqp_uri) as conn:
        queue = partner_queue(conn, "volunteer", "order_created")
        yield queue
        queue.delete()


def drain(queue) -> list:
    got = []
    while (message := queue.get(no_ack=True)) is not None:
        got.append(message)
    return got


def write_events(database, n: int, correlation_id: str = "corr-1") -> list[str]:
    ids = []
    with database.uow() as uow:
        for i in range(n):
            ids.append(uow.publish("order_created", {**PAYLOAD, "order_id": f"o-{i}"}, correlation_id).event_id)
        uow.commit()
    return ids


def outbox_rows(database):
    table = metadata.tables["outbox"]
    with database.engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).mappings().all()


def test_an_uncommitted_unit_of_work_leaves_no_event(database):
    with database.uow() as uow:
        uow.publish("order_created", PAYLOAD, "corr-1")
        # no commit: the state change and its event go together, or neither does
    assert outbox_rows(database) == []


def test_the_relay_publishes_with_the_envelope_and_marks_rows(database, amqp_uri, bound_queue):
    ids = write_events(database, 3)
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), "test-relay")
    assert relay.stats().pending == 3
    assert relay.relay_once() == 3
    assert relay.relay_once() == 0
    messages = drain(bound_queue)
    assert [m.properties["message_id"] for m in messages] == ids
    body = json.loads(messages[0].body)
    assert body["type"] == "order_created" and body["source"] == "volunteer" and body["correlation_id"] == "corr-1"
    assert messages[0].delivery_info["routing_key"] == "order_created"
    assert messages[0].properties["delivery_mode"] == 2  # persistent
    assert all(r["published_at"] is not None and not r["unroutable"] for r in outbox_rows(database))
    assert relay.stats().pending == 0


def test_batches_of_any_size_are_marked_by_one_statement_sent_straight_to_the_driver(
    database, amqp_uri, bound_queue, monkeypatch
):
    direct = []
    original = LeanSession._direct
    monkeypatch.setattr(
        LeanSession, "_direct", lambda self, plan, params: direct.append(plan.sql) or original(self, plan, params)
    )
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), "test-relay")
    for size in (2, 5, 3):
        write_events(database, size)
        assert relay.relay_once() == size
    assert len(drain(bound_queue)) == 10
    assert all(r["published_at"] is not None for r in outbox_rows(database))
    marks = [sql for sql in direct if "published_at=" in sql]
    # On PostgreSQL the mark takes the ids as one array, so the second and third batches' marks went direct;
    # SQLite's positional parameters keep SQLAlchemy's path.
    assert len(marks) == (2 if database.engine.dialect.name == "postgresql" else 0)


def test_an_unroutable_event_is_marked_not_lost_silently(database, new_vhost):
    write_events(database, 1)
    # A vhost of its own: in the shared one, another test's queue may well be bound to order_created.
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(new_vhost()), "test-relay")
    assert relay.relay_once() == 1
    [row] = outbox_rows(database)
    assert row["unroutable"] is True and row["published_at"] is not None


def test_unroutable_events_are_each_marked_but_logged_once_per_type(database, new_vhost, caplog):
    """A type nobody binds (a deprecated one, say) is normal in production: a log line per event would flood."""
    write_events(database, 3)
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(new_vhost()), "test-relay")
    with caplog.at_level(logging.WARNING, logger="gridlink.runtime.outbox"):
        assert relay.relay_once() == 3
        write_events(database, 2)
        assert relay.relay_once() == 2
    assert all(row["unroutable"] for row in outbox_rows(database)) and len(outbox_rows(database)) == 5
    [logged] = [r for r in caplog.records if "unroutable" in r.getMessage()]
    assert logged.fields["event_type"] == "order_created"


def message_sent(database, n: int) -> bool:
    """Commit one `message_sent`; whether it was written."""
    payload = {
        "message_id": f"m-{n}",
        "recipient_id": "S0013",
        "channel": "inbox",
        "template_code": "case_assigned",
        "trigger_event_id": str(uuid.uuid4()),
        "provider": "inbox",
    }
    with database.uow() as uow:
        written = uow.publish("message_sent", payload, "corr-1") is not None
        uow.commit()
    return written


def test_a_type_nobody_need_consume_is_dropped_quietly_where_unbound_and_delivered_where_bound(
    runtime_database, new_vhost, caplog
):
    """With probing off (`EVENTS_UNHEARD_PROBE_SECONDS=0`), `message_sent` (NO_CONSUMER_NEEDED) is written every
    time and published without `mandatory`: with no queue bound the broker drops it instead of returning it, so it
    is marked sent, not unroutable, and nothing is logged; a queue bound to it (a partner's) gets every one."""
    off = Audience(0)
    database = runtime_database("outbox_optional", metadata, "notification", audience=off)
    amqp = new_vhost()
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp), "test-relay", audience=off)

    message_sent(database, 1)
    message_sent(database, 2)
    with caplog.at_level(logging.WARNING, logger="gridlink.runtime.outbox"):
        assert relay.relay_once() == 2
    assert [(r["published_at"] is not None, r["unroutable"]) for r in outbox_rows(database)] == [(True, False)] * 2
    assert not [r for r in caplog.records if "unroutable" in r.getMessage()]
    with Connection(amqp) as conn:
        partner = partner_queue(conn, "notification", "message_sent")
        message_sent(database, 3)
        assert relay.relay_once() == 1
        [got] = drain(partner)
        assert json.loads(got.body)["payload"]["message_id"] == "m-3"
        partner.delete()


def test_a_batch_is_published_without_a_socket_read_before_each_message(database, amqp_uri, bound_queue, monkeypatch):
    """py-amqp polls the socket before every publish unless `connection.blocked` is off; the relay turns it off."""
    polls = []
    real = amqp.Connection.drain_events

    def counted(connection, timeout=None):
        polls.append(timeout)
        return real(connection, timeout=timeout)

    ids = write_events(database, 50)
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), "test-relay")
    monkeypatch.setattr(amqp.Connection, "drain_events", counted)
    assert relay.relay_once() == 50
    monkeypatch.undo()
    assert [m.properties["message_id"] for m in drain(bound_queue)] == ids
    assert polls and 0 not in polls  # only the reads that wait for the confirms, none with no wait before a publish


def test_a_broker_failure_keeps_the_row_for_the_next_pass(database, amqp_uri, bound_queue):
    write_events(database, 1)
    broken = OutboxRelay(
        database.session_factory, metadata.tables["outbox"], Bus("amqp://guest:guest@127.0.0.1:1//"), "broken"
    )
    broken.bus._publisher.retry = False
    assert broken.relay_once() == 0
    [row] = outbox_rows(database)
    assert row["published_at"] is None and row["last_error"]
    # Released for a quick retry, not held for the whole lease.
    healthy = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), "healthy")
    time.sleep(2.1)
    assert healthy.relay_once() == 1
    assert len(drain(bound_queue)) == 1


@pytest.mark.parametrize("backend", ["postgresql"])  # a connection ended under the relay, for real
def test_rows_whose_mark_failed_are_marked_by_the_next_pass_not_sent_again(database, amqp_uri, bound_queue, backend):
    ids = write_events(database, 3)
    relay = OutboxRelay(
        database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), "test-relay", lease=timedelta(seconds=1)
    )
    publish = relay.bus.publish_batch

    def published_then_connections_ended(messages):
        answer = publish(messages)
        other = create_engine(database.engine.url)  # not the relay's pool: every connection in it ends
        with other.connect() as conn:  # as in a restart or failover
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        other.dispose()
        return answer

    relay.bus.publish_batch = published_then_connections_ended
    with pytest.raises(OperationalError):
        relay.relay_once()
    assert [m.properties["message_id"] for m in drain(bound_queue)] == ids
    assert all(r["published_at"] is None for r in outbox_rows(database))
    relay.bus.publish_batch = publish
    relay.mark()  # the next pass
    assert all(r["published_at"] is not None for r in outbox_rows(database))
    time.sleep(1.1)  # their lease has run out: nothing is left to claim and send again
    assert relay.relay_once() == 0
    assert drain(bound_queue) == []


# Replicas share PostgreSQL; SQLite is the single-process local default, so this runs on PostgreSQL only.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_relays_side_by_side_publish_each_event_once(database, amqp_uri, bound_queue, backend):
    ids = write_events(database, 300)
    relays = [
        OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp_uri), f"replica-{i}", batch=25)
        for i in range(2)
    ]
    done = threading.Event()

    def work(relay):
        while not done.is_set():
            if relay.relay_once() == 0 and relay.stats().pending == 0:
                done.set()

    threads = [threading.Thread(target=work, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    received = [m.properties["message_id"] for m in drain(bound_queue)]
    assert sorted(received) == sorted(ids)
    assert len(received) == len(set(received)) == 300
    owners = {r["attempts"] for r in outbox_rows(database)}
    assert owners == {1}  # no row was claimed twice


def test_a_type_nobody_binds_is_not_written_until_the_next_probe(runtime_database, new_vhost, caplog):
    """With an `Audience` (the services' default): the broker returns the first `message_sent`s, and for the probe
    interval none is written at all; the next one after it probes again. Returns of such a type are no fault: not
    logged, not counted unroutable."""
    clock = [1000.0]
    audience = Audience(5, clock=lambda: clock[0])
    database = runtime_database("outbox_unheard", metadata, "notification", audience=audience)
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(new_vhost()), "r", audience=audience)
    unroutable = metrics.OUTBOX_UNROUTABLE.labels("message_sent")._value.get()
    unheard = metrics.EVENTS_UNHEARD.labels("message_sent")._value.get()

    assert message_sent(database, 1) and message_sent(database, 2)
    with caplog.at_level(logging.WARNING, logger="gridlink.runtime.outbox"):
        assert relay.relay_once() == 2
    assert [(r["published_at"] is not None, r["unroutable"]) for r in outbox_rows(database)] == [(True, True)] * 2
    assert not [r for r in caplog.records if "unroutable" in r.getMessage()]
    assert metrics.OUTBOX_UNROUTABLE.labels("message_sent")._value.get() == unroutable

    clock[0] += 4.9
    assert not message_sent(database, 3) and not message_sent(database, 4)
    assert len(outbox_rows(database)) == 2
    assert metrics.EVENTS_UNHEARD.labels("message_sent")._value.get() == unheard + 2

    clock[0] += 0.2
    assert message_sent(database, 5)  # the probe
    assert relay.relay_once() == 1
    assert not message_sent(database, 6)  # returned again, so unheard again


def test_a_type_bound_after_it_went_unheard_is_written_again_from_the_next_probe(runtime_database, new_vhost):
    clock = [1000.0]
    audience = Audience(5, clock=lambda: clock[0])
    database = runtime_database("outbox_heard", metadata, "notification", audience=audience)
    amqp = new_vhost()
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(amqp), "r", audience=audience)
    assert message_sent(database, 1)
    relay.relay_once()
    assert not message_sent(database, 2)
    with Connection(amqp) as conn:
        partner = partner_queue(conn, "notification", "message_sent")
        clock[0] += 5
        assert message_sent(database, 3)
        assert relay.relay_once() == 1
        clock[0] += 60  # routed: written from now on, however long after
        assert all([message_sent(database, 4), message_sent(database, 5)])
        assert relay.relay_once() == 2
        got = [json.loads(m.body)["payload"]["message_id"] for m in drain(partner)]
        partner.delete()
    assert got == ["m-3", "m-4", "m-5"]
    assert [r["unroutable"] for r in outbox_rows(database)] == [True, False, False, False]


def test_a_type_that_needs_a_consumer_is_written_whether_or_not_one_is_bound(new_vhost, runtime_database):
    audience = Audience(5)
    database = runtime_database("outbox_needed", metadata, "volunteer", audience=audience)
    relay = OutboxRelay(database.session_factory, metadata.tables["outbox"], Bus(new_vhost()), "r", audience=audience)
    write_events(database, 1)
    assert relay.relay_once() == 1
    write_events(database, 2)
    assert relay.relay_once() == 2
    assert [r["unroutable"] for r in outbox_rows(database)] == [True] * 3
