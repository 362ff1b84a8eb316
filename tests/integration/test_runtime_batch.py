"""Batched consumption: `Database.handle_all` on both backends, and `@event_consumer(..., batch=True)` against a real
RabbitMQ and a real database. A batch is all or nothing, and an event that fails inside one is handled alone."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, insert, select

from gridlink.runtime import dlq, metrics
from gridlink.runtime.bus import Bus
from gridlink.runtime.db import BatchAbandoned, Database
from gridlink.runtime.handoff import OutboxHandoff
from tests.integration import messaging_service
from tests.integration.messaging_service import (
    BatchingTestService,
    LingeringTestService,
    effects,
    metadata,
    record_effect,
)
from tests.integration.test_consumer import case_assigned, publish, service_settings
from tests.polling import wait_for

CONSUMER = "rbatch.on_case_assigned"


@pytest.fixture
def database(runtime_database):
    messaging_service.FAILURES["remaining"] = 0
    messaging_service.POISONED.clear()
    return runtime_database("batch", metadata, "rtest")


def effect_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(effects.c.event_id)).scalars())


def inbox_ids(engine) -> list[str]:
    inbox = metadata.tables["processed_events"]
    with engine.connect() as conn:
        return sorted(conn.execute(select(inbox.c.event_id)).scalars())


def test_a_batch_is_handled_in_one_transaction_with_one_claim(database):
    envelopes = [case_assigned() for _ in range(5)]
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    commits = []
    event.listen(database.engine, "commit", lambda conn: commits.append(conn))

    assert database.handle_all(CONSUMER, envelopes, record_effect) == [True] * 5

    assert effect_ids(database.engine) == sorted(e.event_id for e in envelopes)
    assert inbox_ids(database.engine) == sorted(e.event_id for e in envelopes)
    assert len(commits) == 1
    claims = [s for s in statements if s.startswith('INSERT INTO "processed_events"')]
    assert len(claims) == 1 and claims[0].count("(") >= 5  # five rows in one INSERT


def test_events_handled_before_or_twice_in_the_batch_have_no_second_effect(database):
    first, second = case_assigned(), case_assigned()
    assert database.handle(CONSUMER, first, record_effect) is True

    assert database.handle_all(CONSUMER, [first, second, second], record_effect) == [False, True, False]

    assert effect_ids(database.engine) == sorted([first.event_id, second.event_id])


def test_a_failing_handler_leaves_nothing_of_the_batch(database):
    envelopes = [case_assigned() for _ in range(3)]
    messaging_service.POISONED.add(envelopes[1].payload["case_id"])

    with pytest.raises(messaging_service.Flaky):
        database.handle_all(CONSUMER, envelopes, record_effect)

    assert effect_ids(database.engine) == []
    assert inbox_ids(database.engine) == []


def test_a_handler_that_rolls_back_or_does_not_commit_abandons_the_batch(database):
    def rolls_back(uow, envelope):
        uow.session.execute(insert(effects).values(event_id=envelope.event_id, case_id="undone"))
        uow.rollback()

    def forgets_to_commit(uow, envelope):
        uow.session.execute(insert(effects).values(event_id=envelope.event_id, case_id="undone"))

    for handler in (rolls_back, forgets_to_commit):
        with pytest.raises(BatchAbandoned):
            database.handle_all(CONSUMER, [case_assigned(), case_assigned()], handler)
    assert effect_ids(database.engine) == []
    assert inbox_ids(database.engine) == []


def test_a_batch_of_one_is_handled_exactly_as_a_single_event(database):
    def forgets_to_commit(uow, envelope):
        uow.session.execute(insert(effects).values(event_id=envelope.event_id, case_id="undone"))

    # As `handle`: what the handler does not commit is rolled back, inbox row included, and no error is raised.
    assert database.handle_all(CONSUMER, [case_assigned()], forgets_to_commit) == [True]
    assert effect_ids(database.engine) == []
    assert inbox_ids(database.engine) == []


def test_events_published_in_a_batch_are_handed_to_the_relay_only_after_its_one_commit(runtime_database):
    handoff = OutboxHandoff("test-owner", wake=lambda: None)
    database = runtime_database("batch_handoff", metadata, "dispatch", handoff=handoff)
    seen_before_commit = []

    def publishes(uow, envelope):
        uow.publish("case_assigned", {**envelope.payload, "deadline_at": datetime(2026, 12, 4, 9, 0, tzinfo=UTC)})
        uow.commit()
        seen_before_commit.append(len(handoff))

    database.handle_all(CONSUMER, [case_assigned() for _ in range(3)], publishes)

    assert seen_before_commit == [0, 0, 0]
    assert len(handoff) == 3


def test_follow_ups_run_once_after_the_commit_and_never_for_work_rolled_back(database, caplog):
    ran = []

    def work(uow, envelope):
        uow.after_commit(lambda: ran.append(("kept", envelope.event_id)))
        with pytest.raises(RuntimeError), uow.session.begin_nested():
            uow.after_commit(lambda: ran.append(("savepoint", envelope.event_id)))
            raise RuntimeError("undoes the savepoint only")
        uow.after_commit(lambda: 1 / 0)  # a failing follow-up is logged: the work is committed whatever it does
        uow.after_commit(lambda: ran.append(("after the failure", envelope.event_id)))
        ran.append(("before commit", envelope.event_id))
        uow.commit()

    first, second = case_assigned(), case_assigned()
    database.handle_all(CONSUMER, [first, second], work)
    [a, b] = sorted([first, second], key=lambda e: e.correlation_id)  # the order a batch handles them in
    assert ran == [
        ("before commit", a.event_id),
        ("before commit", b.event_id),
        ("kept", a.event_id),
        ("after the failure", a.event_id),
        ("kept", b.event_id),
        ("after the failure", b.event_id),
    ]
    assert [r.message for r in caplog.records].count("a follow-up after commit failed") == 2


def test_rows_inserted_at_commit_are_one_statement_for_the_batch_and_none_of_a_rolled_back_savepoint(database):
    def work(uow, envelope):
        row = {"event_id": envelope.event_id, "case_id": envelope.payload["case_id"]}
        uow.insert_at_commit(effects, [row])
        with pytest.raises(RuntimeError), uow.session.begin_nested():
            uow.insert_at_commit(effects, [{**row, "case_id": "undone"}])
            raise RuntimeError("undoes the savepoint only")
        uow.commit()

    envelopes = [case_assigned() for _ in range(3)]
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    database.handle_all(CONSUMER, envelopes, work)
    with database.engine.connect() as conn:
        rows = conn.execute(select(effects.c.event_id, effects.c.case_id)).all()
    assert sorted(rows) == sorted((e.event_id, e.payload["case_id"]) for e in envelopes)
    assert len([s for s in statements if s.startswith('INSERT INTO "effects"')]) == 1


def test_a_batch_abandoned_runs_no_follow_up_of_it_and_each_event_alone_runs_its_own(database):
    ran = []

    def work(uow, envelope):
        uow.after_commit(lambda: ran.append(envelope.event_id))
        if envelope is poisoned:
            raise ValueError("this one fails")
        uow.commit()

    good, poisoned = case_assigned(), case_assigned()
    with pytest.raises(ValueError):
        database.handle_all(CONSUMER, [good, poisoned], work)
    assert ran == []
    assert database.handle(CONSUMER, good, work)
    assert ran == [good.event_id]


# --- the consumer, against RabbitMQ -----------------------------------------------------------------------------


@pytest.fixture
def start_service(container_factory, amqp_uri, new_database):
    engine, settings = service_settings("rbatch", amqp_uri, new_database)

    def start():
        container = container_factory(BatchingTestService, settings.nameko_config())
        container.start()
        return container

    yield engine, start
    engine.dispose()


def backlog(amqp_uri: str, start, envelopes) -> None:
    """Publish `envelopes` while the service is stopped (its queue exists), so they wait together for it."""
    start().stop()
    for envelope in envelopes:
        publish(amqp_uri, envelope)


def handled_lines(caplog) -> list[int]:
    """The events each of the consumer's "handled" log lines stands for."""
    lines = [r for r in caplog.records if r.getMessage() in ("event handled", "events handled")]
    return [r.fields.get("events", 1) for r in lines]


def test_a_backlog_is_consumed_in_batches_each_event_once(start_service, amqp_uri, caplog):
    caplog.set_level(logging.INFO, logger="gridlink.runtime.entrypoints")
    handled = metrics.EVENTS_CONSUMED.labels("case_assigned", "handled")
    before = handled._value.get()
    engine, start = start_service
    envelopes = [case_assigned() for _ in range(25)]
    backlog(amqp_uri, start, envelopes)

    start()

    wait_for(lambda: len(effect_ids(engine)) == 25, what="every event of the backlog")
    assert effect_ids(engine) == sorted(e.event_id for e in envelopes)
    assert sum(messaging_service.BATCH_SIZES) == 25
    assert max(messaging_service.BATCH_SIZES) > 1  # waiting messages were taken together
    assert max(messaging_service.BATCH_SIZES) <= 10  # no more than the broker lets the consumer hold unacked
    # Each event counted, each batch logged once with its size.
    wait_for(lambda: handled._value.get() - before == 25, what="every event counted as handled")
    assert sorted(handled_lines(caplog)) == sorted(messaging_service.BATCH_SIZES)


def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_go_through(start_service, amqp_uri):
    engine, start = start_service
    envelopes = [case_assigned() for _ in range(8)]
    poison = envelopes[3]
    messaging_service.POISONED.add(poison.payload["case_id"])
    backlog(amqp_uri, start, envelopes)

    start()

    letters = wait_for(lambda: dlq.list_letters(amqp_uri, ("rbatch",)), what="the poison event's dead letter")
    assert [json.loads(letter.body)["event_id"] for letter in letters] == [poison.event_id]
    wait_for(lambda: len(effect_ids(engine)) == 7, what="the other seven events")
    assert effect_ids(engine) == sorted(e.event_id for e in envelopes if e is not poison)
    with engine.connect() as conn:
        inbox = metadata.tables["processed_events"]
        assert conn.execute(select(func.count()).select_from(inbox)).scalar() == 7


def test_a_read_snapshot_does_not_see_what_commits_between_two_reads(databases):
    # PostgreSQL's reads (READ COMMITTED) are what it is for; SQLite reads without a transaction.
    database = Database(databases("snapshot", "postgresql"), metadata, "rtest")
    metadata.create_all(database.engine)
    try:
        with database.uow() as reader:
            reader.read_snapshot()
            before = reader.session.execute(select(func.count()).select_from(effects)).scalar()
            with database.uow() as writer:
                writer.session.execute(insert(effects).values(event_id="e", case_id="committed meanwhile"))
                writer.commit()
            assert reader.session.execute(select(func.count()).select_from(effects)).scalar() == before
        with database.uow() as later:
            assert later.session.execute(select(func.count()).select_from(effects)).scalar() == before + 1
    finally:
        database.dispose()


def test_a_lingering_consumer_gathers_a_trickle_into_a_few_batches(container_factory, new_vhost, new_database):
    amqp = new_vhost()  # its own: no other test's consumer of these events
    engine, settings = service_settings("rlinger", amqp, new_database)
    assert settings.event_linger == 0.2
    container_factory(LingeringTestService, settings.nameko_config()).start()
    envelopes = [case_assigned() for _ in range(8)]
    bus = Bus(amqp)
    for envelope in envelopes:  # one every 20 ms: each would arrive alone, with nothing waiting beside it
        body = json.dumps(envelope.to_wire()).encode()
        bus.publish_event("dispatch.events", envelope.type, body, envelope.event_id, envelope.correlation_id)
        time.sleep(0.02)
    wait_for(lambda: len(effect_ids(engine)) == 8, what="every event of the trickle")
    assert effect_ids(engine) == sorted(e.event_id for e in envelopes)
    assert sum(messaging_service.BATCH_SIZES) == 8
    assert len(messaging_service.BATCH_SIZES) <= 4, messaging_service.BATCH_SIZES  # 160 ms of events, 200 ms batches
    engine.dispose()


def trickle(amqp: str, envelopes, gap: float) -> None:
    bus = Bus(amqp)
    for envelope in envelopes:
        body = json.dumps(envelope.to_wire()).encode()
        bus.publish_event("dispatch.events", envelope.type, body, envelope.event_id, envelope.correlation_id)
        time.sleep(gap)


def test_a_batching_consumer_gathers_a_flowing_trickle(container_factory, new_vhost, new_database):
    amqp = new_vhost()
    engine, settings = service_settings("rbatch", amqp, new_database)
    assert settings.event_flow_linger == 0.05
    # Longer than the default, so a slow machine's late publishes still count as one flow.
    settings = replace(settings, event_flow_linger=0.3)
    container_factory(BatchingTestService, settings.nameko_config()).start()
    envelopes = [case_assigned() for _ in range(8)]

    trickle(amqp, envelopes, 0.02)  # each would arrive alone, with nothing waiting beside it

    wait_for(lambda: len(effect_ids(engine)) == 8, what="every event of the trickle")
    assert effect_ids(engine) == sorted(e.event_id for e in envelopes)
    assert sum(messaging_service.BATCH_SIZES) == 8
    # The first opens no wait (nothing came before it); the ones after it flow, and wait for each other.
    assert len(messaging_service.BATCH_SIZES) <= 3, messaging_service.BATCH_SIZES
    engine.dispose()


def test_a_lone_event_is_not_held_back_by_the_flow_linger(container_factory, new_vhost, new_database):
    amqp = new_vhost()
    engine, settings = service_settings("rbatch", amqp, new_database)
    # Were a lone event held for the flow linger, it would not be handled within the wait below.
    settings = replace(settings, event_flow_linger=60.0)
    container_factory(BatchingTestService, settings.nameko_config()).start()
    lone = case_assigned()

    trickle(amqp, [lone], 0)

    wait_for(lambda: effect_ids(engine) == [lone.event_id], timeout=15, what="the lone event, at once")
    assert messaging_service.BATCH_SIZES == [1]
    engine.dispose()
