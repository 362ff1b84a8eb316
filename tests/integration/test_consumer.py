"""The reliable consumer against a real RabbitMQ and a real database: idempotency, retries, dead letters,
replay, and bad messages that must not stop the consumer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from kombu import Connection, Exchange
from sqlalchemy import create_engine, func, select, text

from gridlink.contracts import new_envelope
from gridlink.runtime import deadletter, dlq, metrics
from gridlink.runtime.bus import Bus
from gridlink.runtime.config import load_settings
from tests.integration import messaging_service
from tests.integration.messaging_service import MessagingTestService, effects, metadata
from tests.polling import wait_for

QUEUE = "evt-dispatch-case_assigned--rtest.on_case_assigned"


def case_assigned(case_id: str | None = None):
    return new_envelope(
        type="case_assigned",
        source="dispatch",
        correlation_id=str(uuid.uuid4()),
        payload={
            "case_id": case_id or str(uuid.uuid4()),
            "report_id": str(uuid.uuid4()),
            "tracking_code": "HB-261129-ABCDEF",
            "category_code": "street_lamp",
            "urgency": "normal",
            "grid_code": "150302001001001",
            "tier": "grid",
            "unit_code": "150302001001001",
            "assignee_id": "S0001",
            "assignee_role": "full_time_worker",
            "deadline_at": datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
            "summary": "路灯不亮",
        },
    )


def service_settings(name: str, amqp_uri: str, new_database):
    """A fresh database with the test service's tables, settings with short retries, and an empty dead-letter
    queue (the vhost lives for the session); the handler's failure switches reset."""
    url = new_database(name)
    engine = create_engine(url)
    metadata.create_all(engine)
    settings = load_settings(
        name, 0, {"AMQP_URI": amqp_uri, "DATABASE_URL": url, "RETRY_DELAYS": "0.2,0.4", "HTTP_PORT": "0"}
    )
    messaging_service.FAILURES["remaining"] = 0
    messaging_service.POISONED.clear()
    messaging_service.TIMED_OUT.clear()
    messaging_service.BATCH_SIZES.clear()
    with Connection(amqp_uri) as conn:
        dlq_queue = deadletter.dead_letter_queue(name)(conn.default_channel)
        dlq_queue.declare()
        dlq_queue.purge()
    return engine, settings


@pytest.fixture
def service(container_factory, amqp_uri, new_database):
    engine, settings = service_settings("rtest", amqp_uri, new_database)
    container = container_factory(MessagingTestService, settings.nameko_config())
    container.start()
    yield engine
    container.stop()
    engine.dispose()


def publish(amqp_uri: str, envelope) -> None:
    Bus(amqp_uri).publish_event(
        "dispatch.events",
        envelope.type,
        json.dumps(envelope.to_wire()).encode(),
        envelope.event_id,
        envelope.correlation_id,
    )


def publish_raw(amqp_uri: str, body: bytes, content_type: str = "application/json") -> None:
    with Connection(amqp_uri) as conn:
        producer = conn.Producer()
        producer.publish(
            body,
            exchange=Exchange("dispatch.events", type="topic", durable=True),
            routing_key="case_assigned",
            content_type=content_type,
            content_encoding="utf-8",
        )


def effect_count(engine, case_id: str | None = None) -> int:
    query = select(func.count()).select_from(effects)
    if case_id:
        query = query.where(effects.c.case_id == case_id)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def letters(amqp_uri):
    return dlq.list_letters(amqp_uri, ("rtest",))


def test_a_redelivered_event_has_one_effect(service, amqp_uri):
    envelope = case_assigned()
    publish(amqp_uri, envelope)
    publish(amqp_uri, envelope)
    marker = case_assigned()
    publish(amqp_uri, marker)  # published last: once it is handled, both copies before it have been too
    wait_for(lambda: effect_count(service, marker.payload["case_id"]) == 1, what="the marker event")
    wait_for(lambda: True, timeout=0.5)
    assert effect_count(service, envelope.payload["case_id"]) == 1


def test_a_failing_handler_retries_with_backoff_then_succeeds(service, amqp_uri):
    messaging_service.FAILURES["remaining"] = 2  # both retries are needed
    envelope = case_assigned()
    publish(amqp_uri, envelope)
    wait_for(lambda: effect_count(service, envelope.payload["case_id"]) == 1, what="the handled retry")
    assert letters(amqp_uri) == []


def test_a_handler_that_keeps_failing_ends_in_dead_letter_and_replays(service, amqp_uri):
    messaging_service.FAILURES["remaining"] = 3  # one first try plus two retries: all fail
    envelope = case_assigned()
    publish(amqp_uri, envelope)
    found = wait_for(lambda: letters(amqp_uri), what="a dead letter")
    assert len(found) == 1
    letter = found[0]
    assert letter.reason == "handler_failed"
    assert "the handler failed on purpose" in letter.error
    assert letter.original_queue == QUEUE
    assert letter.attempts == 3
    assert json.loads(letter.body)["event_id"] == envelope.event_id
    assert effect_count(service, envelope.payload["case_id"]) == 0

    # Browsing did not consume it, and a replay delivers it once the fault is gone.
    assert [x.dead_letter_id for x in letters(amqp_uri)] == [letter.dead_letter_id]
    assert dlq.replay(amqp_uri, ("rtest",), {letter.dead_letter_id}) == [letter.dead_letter_id]
    wait_for(lambda: effect_count(service, envelope.payload["case_id"]) == 1, what="the replayed event")
    assert letters(amqp_uri) == []
    # Replaying the same event again (say, from an old copy) still has no second effect.
    publish(amqp_uri, envelope)
    marker = case_assigned()
    publish(amqp_uri, marker)
    wait_for(lambda: effect_count(service, marker.payload["case_id"]) == 1, what="the marker event")
    assert effect_count(service, envelope.payload["case_id"]) == 1


def retried() -> float:
    return metrics.EVENTS_CONSUMED.labels("case_assigned", "retried")._value.get()


@pytest.mark.parametrize("backend", ["postgresql"])  # a database that refuses connections, for real
def test_an_event_waits_past_its_retries_for_an_unavailable_database_and_is_handled_once_it_is_back(
    service, amqp_uri, backend
):
    database = service.url.database
    admin = create_engine(service.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    before = retried()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"), {"db": database}
            )
        envelope = case_assigned()
        publish(amqp_uri, envelope)
        # RETRY_DELAYS is 0.2,0.4: an event failing for a reason of its own is dead-lettered at its third attempt.
        wait_for(lambda: retried() - before >= 4, what="retries past the last delay")
        assert letters(amqp_uri) == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    service.dispose()  # the test's own connections were ended with the rest
    case_id = envelope.payload["case_id"]
    wait_for(lambda: effect_count(service, case_id) == 1, what="the event, once the database is back")
    assert letters(amqp_uri) == []
    assert effect_count(service) == 1


@pytest.mark.parametrize("backend", ["postgresql"])  # a statement timeout, for real
def test_an_event_whose_query_always_times_out_is_dead_lettered_after_its_retries(service, amqp_uri, backend):
    # psycopg2 raises a cancelled statement as an OperationalError, as it does an outage; waiting for the
    # database would retry this event for as long as it kept timing out.
    envelope = case_assigned()
    messaging_service.TIMED_OUT.add(envelope.payload["case_id"])
    publish(amqp_uri, envelope)
    found = wait_for(lambda: letters(amqp_uri), what="a dead letter")
    assert [(x.reason, x.attempts) for x in found] == [("handler_failed", 3)]
    assert "statement timeout" in found[0].error
    assert effect_count(service, envelope.payload["case_id"]) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "reason", "expected"),
    [
        (b'{"event_id": "not json', "application/json", "undecodable", "Decode"),
        (b"plain words", "text/plain", "undecodable", "ContentDisallowed"),
        (json.dumps({"hello": "world"}).encode(), "application/json", "invalid", "event_id"),
        (None, "application/json", "invalid", "assignee_id"),
        (b'{"pad": "' + b"x" * (1024 * 1024) + b'"}', "application/json", "invalid", "exceeds"),
        (json.dumps({**case_assigned().to_wire(), "version": 7}).encode(), "application/json", "invalid", "version 7"),
    ],
    ids=["malformed-json", "wrong-content-type", "no-envelope", "payload-fails-schema", "oversized", "unknown-version"],
)
def test_bad_messages_go_straight_to_dead_letter_and_the_consumer_keeps_going(
    service, amqp_uri, body, content_type, reason, expected
):
    if body is None:
        wire = case_assigned().to_wire()
        del wire["payload"]["assignee_id"]
        body = json.dumps(wire).encode()
    publish_raw(amqp_uri, body, content_type)
    found = wait_for(lambda: letters(amqp_uri), what="a dead letter")
    assert [x.reason for x in found] == [reason]
    assert expected in found[0].error
    assert found[0].attempts == 0  # no retry: no retry can fix it

    good = case_assigned()
    publish(amqp_uri, good)
    wait_for(lambda: effect_count(service, good.payload["case_id"]) == 1, what="the next, valid event")
