"""The hand-off from a committing unit of work to its own relay: no claim transaction, no loss when the process
dies before publishing, and no row published by two replicas."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from gridlink.runtime.bus import Bus
from gridlink.runtime.db import Database
from gridlink.runtime.handoff import OutboxHandoff
from gridlink.runtime.outbox import OutboxRelay
from tests.integration.messaging_service import metadata
from tests.integration.test_outbox import PAYLOAD, bound_queue, drain, outbox_rows, write_events

__all__ = ["bound_queue"]  # a fixture, used by name

OUTBOX = metadata.tables["outbox"]


def database_with(new_database, handoff: OutboxHandoff) -> Database:
    db = Database(new_database("handoff"), metadata, "volunteer", handoff=handoff)
    metadata.create_all(db.engine)
    return db


@pytest.fixture
def handoff():
    return OutboxHandoff("replica-a", lease=timedelta(seconds=10))


@pytest.fixture
def database(new_database, backend, handoff):
    db = database_with(new_database, handoff)
    yield db
    db.dispose()


class Recorder:
    """Every transaction and statement the engine runs while it listens."""

    def __init__(self, engine):
        self.transactions = 0
        self.statements: list[str] = []
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, _conn):
        self.transactions += 1

    def _statement(self, _conn, _cursor, statement, *_args):
        self.statements.append(statement)


def test_handed_off_rows_are_published_and_marked_in_one_transaction_without_a_claim(
    database, handoff, amqp_uri, bound_queue
):
    ids = write_events(database, 3)
    assert len(handoff) == 3
    [row] = {(r["claimed_by"], r["attempts"]) for r in outbox_rows(database)}
    assert row == ("replica-a", 1)  # leased to its own relay from the insert on
    relay = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "replica-a", handoff=handoff)
    recorder = Recorder(database.engine)
    assert relay.relay_handed_off() == 3
    assert recorder.transactions == 1
    assert not [s for s in recorder.statements if "FOR UPDATE" in s or "RETURNING" in s]
    assert [m.properties["message_id"] for m in drain(bound_queue)] == ids
    rows = outbox_rows(database)
    assert all(r["published_at"] is not None and r["claimed_by"] is None and r["attempts"] == 1 for r in rows)
    assert len(handoff) == 0 and relay.relay_once() == 0


def test_a_rolled_back_unit_of_work_hands_off_nothing(database, handoff):
    with database.uow() as uow:
        uow.publish("order_created", PAYLOAD, "corr-1")
        uow.rollback()
        kept = uow.publish("order_created", {**PAYLOAD, "order_id": "o-2"}, "corr-1")
        uow.commit()
    with database.uow() as uow:
        uow.publish("order_created", PAYLOAD, "corr-1")
        # no commit
    assert [row.event_id for row in handoff.take(10)] == [kept.event_id]
    assert [r["event_id"] for r in outbox_rows(database)] == [kept.event_id]


def test_rows_whose_hand_off_was_lost_are_published_by_the_poll_after_the_lease(new_database, amqp_uri, bound_queue):
    lost = OutboxHandoff("crashed", lease=timedelta(seconds=1))
    database = database_with(new_database, lost)
    ids = write_events(database, 2)  # committed, then the process dies: `lost` is never drained
    survivor = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "survivor")
    assert survivor.relay_once() == 0  # still leased to the dead process
    time.sleep(1.1)
    assert survivor.relay_once() == 2
    assert [m.properties["message_id"] for m in drain(bound_queue)] == ids
    assert all(r["published_at"] is not None and r["attempts"] == 2 for r in outbox_rows(database))
    database.dispose()


def test_a_row_with_too_little_lease_left_is_left_to_the_poll(new_database, amqp_uri, bound_queue):
    handoff = OutboxHandoff("slow", lease=timedelta(seconds=1))
    database = database_with(new_database, handoff)
    [event_id] = write_events(database, 1)
    time.sleep(0.6)  # the relay was too busy to take it in the first half of its lease
    relay = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "slow", handoff=handoff)
    assert relay.relay_handed_off() == 0 and drain(bound_queue) == []
    time.sleep(0.5)
    assert relay.relay_once() == 1
    assert [m.properties["message_id"] for m in drain(bound_queue)] == [event_id]
    database.dispose()


# Replicas share PostgreSQL; SQLite is the single-process local default, so this runs on PostgreSQL only.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_another_replicas_poll_never_publishes_a_handed_off_row(database, handoff, amqp_uri, bound_queue, backend):
    mine = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "replica-a", handoff=handoff, batch=25)
    other = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "replica-b", batch=25)
    done = threading.Event()
    polled = []

    def poll():
        while not done.is_set():
            polled.append(other.relay_once())

    poller = threading.Thread(target=poll)
    poller.start()
    ids = []
    for _ in range(30):
        ids += write_events(database, 10)
        mine.relay_handed_off()
    while len(handoff):
        mine.relay_handed_off()
    done.set()
    poller.join(timeout=60)
    received = [m.properties["message_id"] for m in drain(bound_queue)]
    assert sorted(received) == sorted(ids) and len(received) == 300
    assert len(polled) > 1 and sum(polled) == 0
    assert {(r["attempts"], r["published_at"] is not None) for r in outbox_rows(database)} == {(1, True)}


def test_marks_of_several_batches_gather_into_one_transaction(database, handoff, amqp_uri, bound_queue):
    relay = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "replica-a", handoff=handoff, mark_delay=60)
    recorder = Recorder(database.engine)
    ids = write_events(database, 1) + write_events(database, 2)
    assert relay.relay_handed_off() == 3
    ids += write_events(database, 1)
    assert relay.relay_handed_off() == 1
    assert [m.properties["message_id"] for m in drain(bound_queue)] == ids
    assert all(r["published_at"] is None for r in outbox_rows(database))  # published, not marked yet
    assert relay.mark_due_in() > 0
    recorder.transactions = 0
    relay.mark()
    assert recorder.transactions == 1 and relay.mark_due_in() is None
    assert all(r["published_at"] is not None and r["claimed_by"] is None for r in outbox_rows(database))


def test_unmarked_rows_are_marked_once_the_delay_has_passed(database, handoff, amqp_uri, bound_queue):
    relay = OutboxRelay(database.session_factory, OUTBOX, Bus(amqp_uri), "replica-a", handoff=handoff, mark_delay=0.2)
    write_events(database, 1)
    relay.relay_handed_off()
    relay.mark(force=False)
    assert outbox_rows(database)[0]["published_at"] is None
    time.sleep(0.25)
    relay.mark(force=False)
    assert outbox_rows(database)[0]["published_at"] is not None


def test_rows_of_a_rolled_back_savepoint_are_not_handed_off(database, handoff):
    with database.uow() as uow:
        kept = uow.publish("order_created", PAYLOAD, "corr-1")
        with uow.session.begin_nested():
            released = uow.publish("order_created", PAYLOAD, "corr-1")
        # The raise rolls the outer savepoint back (and the inner one with it); the unit of work goes on.
        with pytest.raises(RuntimeError), uow.session.begin_nested():
            uow.publish("order_created", PAYLOAD, "corr-1")
            with uow.session.begin_nested():
                uow.publish("order_created", PAYLOAD, "corr-1")  # released, then undone with its parent
            raise RuntimeError("refused")
        uow.commit()
    committed = [r["event_id"] for r in outbox_rows(database)]
    assert committed == [kept.event_id, released.event_id]
    assert [row.event_id for row in handoff.take(10)] == committed
