"""Durable timers on both backends: they fire once, survive a failing handler, and can be moved or cancelled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from gridlink.runtime.timers import TimerScanner
from tests.integration.messaging_service import effects, metadata

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.fixture
def database(runtime_database):
    return runtime_database("timers", metadata, "dispatch")


def record(uow, timer):
    uow.session.execute(insert(effects).values(event_id=str(timer.id), case_id=timer.key))
    uow.commit()


def effect_keys(database) -> list[str]:
    with database.engine.connect() as conn:
        return sorted(conn.execute(select(effects.c.case_id)).scalars())


def arm(database, *keys, due=NOW, kind="deadline"):
    with database.uow() as uow:
        for key in keys:
            uow.schedule(kind, key, due, {"key": key}, correlation_id="r-1")
        uow.commit()


def test_a_timer_fires_once_when_due_and_not_before(database):
    arm(database, "c-1", due=NOW + timedelta(minutes=5))
    scanner = TimerScanner(database, {"deadline": record}, "one")
    assert scanner.fire_due(NOW) == 0
    assert scanner.fire_due(NOW + timedelta(minutes=5)) == 1
    assert scanner.fire_due(NOW + timedelta(minutes=10)) == 0
    assert effect_keys(database) == ["c-1"]


def test_moving_and_cancelling_timers(database):
    arm(database, "moved", "cancelled")
    arm(database, "moved", due=NOW + timedelta(days=1))
    with database.uow() as uow:
        uow.cancel_timer("deadline", "cancelled")
        uow.commit()
    scanner = TimerScanner(database, {"deadline": record}, "one")
    assert scanner.fire_due(NOW) == 0
    assert scanner.fire_due(NOW + timedelta(days=1)) == 1
    assert effect_keys(database) == ["moved"]


def test_a_failing_handler_leaves_the_timer_for_a_later_pass(database):
    arm(database, "c-1")
    calls = []

    def flaky(uow, timer):
        calls.append(timer.attempts)
        if len(calls) == 1:
            raise RuntimeError("downstream not ready")
        record(uow, timer)

    scanner = TimerScanner(database, {"deadline": flaky}, "one")
    assert scanner.fire_due(NOW) == 0
    assert effect_keys(database) == []
    assert scanner.fire_due(NOW + timedelta(seconds=1)) == 0  # backing off
    assert scanner.fire_due(NOW + timedelta(seconds=3)) == 1
    assert calls == [1, 2] and effect_keys(database) == ["c-1"]


def failing(uow, timer):
    raise RuntimeError("downstream not ready")


def test_the_lag_is_how_long_the_oldest_due_timer_has_waited_leaving_out_those_backing_off(database):
    scanner = TimerScanner(database, {"deadline": record, "failing": failing}, "one")
    assert scanner.lag_seconds(NOW) == 0.0
    arm(database, "late", due=NOW - timedelta(seconds=30))
    arm(database, "later", due=NOW + timedelta(seconds=30))
    assert scanner.lag_seconds(NOW) == 30.0
    arm(database, "broken", due=NOW - timedelta(seconds=90), kind="failing")
    assert scanner.lag_seconds(NOW) == 90.0
    scanner.fire_due(NOW)  # "late" fires; "broken" fails and backs off for 2 s
    assert scanner.lag_seconds(NOW) == 0.0
    assert scanner.lag_seconds(NOW + timedelta(seconds=45)) == 135.0  # "broken" is due again, and "later" too


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_replicas_fire_each_timer_exactly_once(database, backend):
    keys = [f"c-{i}" for i in range(120)]
    arm(database, *keys)
    scanners = [TimerScanner(database, {"deadline": record}, f"replica-{i}", batch=10) for i in range(2)]
    threads = [threading.Thread(target=lambda s=s: [s.fire_due(NOW) for _ in range(15)]) for s in scanners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert effect_keys(database) == sorted(keys)
    with database.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(effects)).scalar_one() == 120
