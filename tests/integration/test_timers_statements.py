"""Timers set with one upsert and fired with one conditional UPDATE: what those single statements must still get
right, on both backends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from gridlink.runtime.timers import TimerScanner
from tests.integration.messaging_service import metadata
from tests.integration.test_timers import NOW, arm, effect_keys, record

TIMERS = metadata.tables["timers"]


@pytest.fixture
def database(runtime_database):
    return runtime_database("timers", metadata, "dispatch")


def timer_rows(database):
    with database.engine.connect() as conn:
        return conn.execute(select(TIMERS).order_by(TIMERS.c.id)).mappings().all()


def test_scheduling_is_one_statement_and_moving_a_fired_timer_rearms_it(database):
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with database.uow() as uow:
        uow.schedule("deadline", "c-1", NOW, {"v": 1})
        uow.schedule("deadline", "c-1", NOW + timedelta(minutes=1), {"v": 2}, correlation_id="r-2")
        uow.commit()
    assert len([s for s in statements if "timers" in s]) == 2
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
