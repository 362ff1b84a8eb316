"""The relay's batched confirms (runtime/confirms.py), made for the benchmark's throughput: each message of a batch
still gets its own outcome from the real broker — routed, returned as unroutable, or failed — and the relay marks
or keeps each row accordingly."""

import uuid
from datetime import UTC, datetime

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, select

from gridlink.runtime.bus import Bus
from gridlink.runtime.confirms import FAILED, SENT, UNROUTABLE, ConfirmChannel, Outgoing
from gridlink.runtime.db import Database
from gridlink.runtime.outbox import OutboxRelay
from gridlink.runtime.tables import add_messaging_tables


@pytest.fixture
def queue(amqp_uri):
    with Connection(amqp_uri) as conn:
        bound = Queue(
            f"bench-{uuid.uuid4().hex[:6]}",
            Exchange("benchsrc.events", type="topic", durable=True),
            routing_key="routed",
            auto_delete=False,
        )(conn.default_channel)
        bound.declare()
        yield bound
        bound.delete()


def _message(routing_key: str) -> Outgoing:
    return Outgoing("benchsrc.events", routing_key, b'{"n": 1}', str(uuid.uuid4()), "corr")


def test_a_mixed_batch_reports_each_message_on_its_own(amqp_uri, queue):
    channel = ConfirmChannel(amqp_uri)
    batch = [_message("routed"), _message("nobody"), _message("routed"), _message("nobody"), _message("routed")]
    outcomes, error = channel.publish(batch)
    assert error is None
    assert outcomes == [SENT, UNROUTABLE, SENT, UNROUTABLE, SENT]
    got = []
    while (message := queue.get(no_ack=True)) is not None:
        got.append(message.properties["message_id"])
    assert got == [batch[0].message_id, batch[2].message_id, batch[4].message_id]
    # The channel survives the returns: a second batch goes out on it and is confirmed.
    assert channel.publish([_message("routed")]) == ([SENT], None)
    channel.close()


def test_an_unreachable_broker_fails_every_message_with_the_reason():
    outcomes, error = ConfirmChannel("amqp://guest:guest@127.0.0.1:1//", connect_timeout=2).publish(
        [_message("routed"), _message("routed")]
    )
    assert outcomes == [FAILED, FAILED]
    assert error and "Error" in error


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_relay_marks_sent_and_unroutable_rows_of_one_batch(new_database, amqp_uri, queue, backend):
    metadata = MetaData()
    add_messaging_tables(metadata)
    database = Database(new_database("relaybatch"), metadata, "benchsrc")
    metadata.create_all(database.engine)
    outbox = metadata.tables["outbox"]
    with database.engine.begin() as conn:
        for i, event_type in enumerate(["routed", "nobody", "routed"]):
            conn.execute(
                outbox.insert().values(
                    event_id=str(uuid.uuid4()),
                    event_type=event_type,
                    exchange="benchsrc.events",
                    correlation_id=f"c{i}",
                    body="{}",
                    created_at=datetime.now(UTC),
                    attempts=0,
                    unroutable=False,
                )
            )
    relay = OutboxRelay(database.session_factory, outbox, Bus(amqp_uri), "batch-relay")
    assert relay.relay_once() == 3
    with database.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.unroutable, outbox.c.published_at)).all()
    assert sorted((r.event_type, r.unroutable) for r in rows) == [
        ("nobody", True),
        ("routed", False),
        ("routed", False),
    ]
    assert all(r.published_at is not None for r in rows)
    assert relay.relay_once() == 0
    relay.bus.close()
    database.dispose()
