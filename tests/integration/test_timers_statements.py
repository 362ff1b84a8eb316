"""Timers set with one upsert and fired with one conditional UPDATE: what those single statements must still get
right, on both backends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from gridlink.runtime.timers import TimerScanner
from tests.integration.messaging_service import metadata
from tests.integration.test_outbox import PAYLOAD as ORDER
from tests.integration.test_timers import NOW, arm, effect_keys, record

TIMERS = metadata.tables["timers"]


@pytest.fixture
def database(runtime_database):
    return runtime_database("timers", metadata, "dispatch")


def timer_rows(database):
    with database.engine.connect() as conn:
        return conn.execute(select(TIMERS).order_by(TIMERS.c.id)).mappings().all()


def test_scheduling_twice_in_a_unit_of_work_is_one_statement_and_moving_a_fired_timer_rearms_it(database):
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with database.uow() as uow:
        uow.schedule("deadline", "c-1", NOW, {"v": 1})
        uow.schedule("deadline", "c-1", NOW + timedelta(minutes=1), {"v": 2}, correlation_id="r-2")
        uow.commit()
    assert len([s for s in statements if "timers" in s]) == 1  # written at commit: the last schedule wins
    [row] = timer_rows(database)
    assert json.loads(row["payload"]) == {"v": 2} and row["correlation_id"] == "r-2"
    scanner = TimerScanner(database, {"deadline": record}, "one")
    assert scanner.fire_due(NOW + timedelta(minutes=1)) == 1
    arm(database, "c-1", due=NOW + timedelta(hours=1))
    [row] = timer_rows(database)
    assert row["fired_at"] is None and row["attempts"] == 0 and row["claimed_by"] is None
    assert scanner.fire_due(NOW + timedelta(hours=1)) == 1
    assert effect_keys(database) == ["c-1", "c-1"]


def test_a_timer_rearmed_after_its_claim_is_not_fired_by_the_stale_claim(database):
    arm(database, "c-1")
    scanner = TimerScanner(database, {"deadline": record}, "one")
    [timer_id] = scanner._claim(NOW)
    arm(database, "c-1", due=NOW + timedelta(days=1))  # moved between the claim and the fire
    assert scanner._fire(timer_id, NOW) is False
    [row] = timer_rows(database)
    assert row["fired_at"] is None and effect_keys(database) == []
    assert scanner.fire_due(NOW + timedelta(days=1)) == 1


def test_a_failing_handler_rolls_the_fired_mark_back(database):
    arm(database, "c-1")

    def failing(uow, timer):
        raise RuntimeError("downstream not ready")

    scanner = TimerScanner(database, {"deadline": failing}, "one")
    assert scanner.fire_due(NOW) == 0
    [row] = timer_rows(database)
    assert row["fired_at"] is None and row["last_error"] and row["attempts"] == 1


def test_due_timers_fire_earliest_first(database):
    arm(database, "late", due=NOW)
    arm(database, "early", due=NOW - timedelta(minutes=5))
    fired = []
    scanner = TimerScanner(database, {"deadline": lambda uow, timer: fired.append(timer.key)}, "one")
    assert scanner.fire_due(NOW) == 2
    assert fired == ["early", "late"]


@pytest.fixture
def volunteer_database(runtime_database):
    return runtime_database("timers_outbox", metadata, "volunteer")  # which publishes order_created


def test_a_unit_of_works_timer_changes_and_events_are_written_at_commit_in_a_few_statements(volunteer_database):
    database = volunteer_database
    arm(database, "cancelled-later")
    arm(database, "kept")
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with database.uow() as uow:
        for key in ("a", "b", "c", "cancelled-later"):
            uow.schedule("deadline", key, NOW, {"key": key})
        uow.cancel_timer("deadline", "cancelled-later")
        uow.cancel_timer("deadline", "a")
        uow.schedule("deadline", "a", NOW + timedelta(hours=1), {"key": "a"})  # cancelled, then set again
        for n in range(3):
            uow.publish("order_created", {**ORDER, "order_id": f"o-{n}"}, correlation_id="r-1")
        assert statements == []  # nothing written before commit
        uow.commit()

    timers = [s for s in statements if "timers" in s]
    outbox = [s for s in statements if "outbox" in s]
    # schedule a, b, c, cancelled-later | cancel cancelled-later, a | schedule a: three runs, one statement each
    assert len(timers) == 3 and len(outbox) == 1
    rows = {row["key"]: row for row in timer_rows(database)}
    assert sorted(rows) == ["a", "b", "c", "kept"]
    assert rows["a"]["due_at"].replace(tzinfo=NOW.tzinfo) == NOW + timedelta(hours=1)
    with database.engine.connect() as conn:
        outbox_table = metadata.tables["outbox"]
        assert conn.execute(select(outbox_table.c.event_type)).scalars().all() == ["order_created"] * 3


def test_changes_made_in_a_savepoint_that_rolls_back_are_not_written(volunteer_database):
    database = volunteer_database
    with database.uow() as uow:
        uow.schedule("deadline", "kept", NOW, {})
        with pytest.raises(RuntimeError), uow.session.begin_nested():
            uow.schedule("deadline", "undone", NOW, {})
            uow.publish("order_created", {**ORDER, "order_id": "o-undone"}, correlation_id="r-1")
            raise RuntimeError("roll the savepoint back")
        uow.commit()
    assert [row["key"] for row in timer_rows(database)] == ["kept"]
    with database.engine.connect() as conn:
        assert conn.execute(select(metadata.tables["outbox"].c.id)).all() == []
