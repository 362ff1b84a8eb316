"""volunteer's order loop and ledger against a real database (SQLite and PostgreSQL): the whole loop, time-outs and
re-dispatch driven by a clock the test controls, reminders and replacement, idempotent replay, a claim race with
exactly one winner, and concurrent redemptions that never overdraw a balance nor oversell a reward."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridlink.contracts import new_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.auth import Principal
from gridlink.runtime.db import Database
from gridlink.runtime.migrations import upgrade
from gridlink.runtime.timers import TimerScanner
from volunteer import handlers
from volunteer.adapters import orm
from volunteer.adapters.reference import load_reference
from volunteer.adapters.repository import VolunteerUnitOfWork
from volunteer.domain import ledger
from volunteer.domain.catalogue import Reward
from volunteer.domain.errors import (
    InsufficientPoints,
    InvalidTransition,
    NotAllowed,
    OrderTaken,
    OutOfStock,
)
from volunteer.domain.matching import BEIJING

REF = load_reference(DEFAULT_DATA_DIR)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing
MIGRATIONS = Path(orm.__file__).parent / "migrations"
COORDINATOR = Principal("C0001", "volunteer_coordinator", "150302", 2**40)
ELSEWHERE = Principal("C0002", "volunteer_coordinator", "150302007", 2**40)


def as_volunteer(volunteer_id: str) -> Principal:
    return Principal(volunteer_id, "volunteer", REF.volunteer(volunteer_id).team_code, 2**40)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def database(new_database, backend):
    url = new_database("volunteer")
    upgrade(MIGRATIONS, url)
    db = Database(url, orm.metadata, "volunteer", VolunteerUnitOfWork)
    yield db
    db.dispose()


def uow(database) -> VolunteerUnitOfWork:
    return database.uow()


def scanner(database, clock: Clock, ref=REF) -> TimerScanner:
    def bind(handler):
        return lambda u, timer: handler(u, timer, ref, clock)

    return TimerScanner(
        database,
        {
            handlers.ACCEPT_TIMER: bind(handlers.on_answer_due),
            handlers.REMINDER_TIMER: bind(handlers.on_reminder_due),
            handlers.CONFIRM_TIMER: bind(handlers.on_confirm_due),
        },
        "test",
    )


def outbox(database) -> list[tuple[str, dict]]:
    with database.engine.connect() as conn:
        rows = conn.execute(select(orm.metadata.tables["outbox"].c.body).order_by(orm.metadata.tables["outbox"].c.id))
        return [(b["type"], b["payload"]) for b in (json.loads(r[0]) for r in rows)]


def busiest_service_and_grid() -> tuple[str, str]:
    """A service and a volunteer's home grid with several nearby volunteers who offer it."""
    v = REF.volunteer("V0001")
    return sorted(v.skills)[0], v.home_grid


SERVICE, GRID = busiest_service_and_grid()


def approved_order(database, scheduled_at=None, service=SERVICE, grid=GRID) -> str:
    order, _ = handlers.place_order(uow(database), REF, service, "需要帮助", grid, None, NOW)
    handlers.review(uow(database), REF, order.order_id, COORDINATOR, True, None, scheduled_at, NOW)
    return order.order_id


def get(database, order_id):
    return handlers.get_order(uow(database), order_id)


# --- the loop ---------------------------------------------------------------------------------------------------


def test_a_resident_order_runs_to_rating_and_credits_exact_points(database):
    order, token = handlers.place_order(uow(database), REF, "hospital_escort", "陪同去医院复查", GRID, None, NOW)
    handlers.review(uow(database), REF, order.order_id, COORDINATOR, True, None, None, NOW)
    _, ranked = handlers.candidates(uow(database), REF, order.order_id, COORDINATOR)
    assert len(ranked) >= 3 and ranked == sorted(ranked, key=lambda c: (-c.score, c.distance_km, c.volunteer_id))
    dispatched = handlers.dispatch(uow(database), REF, order.order_id, COORDINATOR, "auto", NOW)
    assert dispatched.volunteer_id == ranked[0].volunteer_id and dispatched.status == "offered"
    me = as_volunteer(dispatched.volunteer_id)

    handlers.accept(uow(database), REF, order.order_id, me, NOW + timedelta(minutes=3))
    handlers.start(uow(database), REF, order.order_id, me, NOW + timedelta(hours=1))
    done = handlers.complete(
        uow(database), REF, order.order_id, me, Decimal("2.5"), "陪同挂号取药", ["https://img.example/a.jpg"], NOW
    )
    assert done.status == "completed"
    with pytest.raises(NotAllowed):
        handlers.rate(uow(database), REF, order.order_id, 5, None, NOW, token="wrong")
    closed = handlers.rate(uow(database), REF, order.order_id, 5, "很耐心", NOW, token=token)
    assert closed.status == "closed" and closed.rating == 5

    result = handlers.statement(uow(database), REF, me.user_id, me)
    # 2.5 h × 10 × 1.5 = 37.50, plus 20 % for a five-star rating = 7.50
    assert result["balances"] == {"points": Decimal("45.00"), "hours": Decimal("2.50")}
    assert [(line.kind, line.amount) for line in result["lines"] if line.unit == "points"] == [
        ("service_credit", Decimal("37.50")),
        ("rating_bonus", Decimal("7.50")),
    ]
    audit = handlers.audit(uow(database))
    assert audit["postings_sum"] == audit["balances_sum"] == {"points": Decimal("0.00"), "hours": Decimal("0.00")}
    assert audit["unbalanced_transactions"] == [] and audit["transactions"] == 2

    types = [t for t, _ in outbox(database)]
    assert types == [
        "order_created",
        "order_approved",
        "order_dispatched",
        "order_accepted",
        "order_started",
        "order_completed",
        "points_credited",
        "order_rated",
        "points_credited",
    ]
    completed = dict(outbox(database))["order_completed"]
    assert completed["hours"] == "2.50" and completed["photo_urls"] == ["https://img.example/a.jpg"]

    stats = handlers.stats(uow(database), REF, COORDINATOR)
    mine = stats["volunteers"][me.user_id]
    assert (mine["orders"], mine["hours"], mine["average_rating"], mine["points_earned"]) == (
        1,
        Decimal("2.50"),
        5.0,
        Decimal("45.00"),
    )
    assert stats["teams"][REF.volunteer(me.user_id).team_code]["points_earned"] == Decimal("45.00")


def test_a_referral_replayed_makes_one_order_and_a_credit_replayed_counts_once(database):
    referral = new_envelope(
        type="case_referred_to_volunteers",
        source="dispatch",
        correlation_id="r-1",
        payload={
            "case_id": "c-1",
            "report_id": "r-1",
            "tracking_code": "HB-261201-ABCDEF",
            "service_code": SERVICE,
            "description": "上门探访",
            "grid_code": GRID,
            "community_code": REF.grid_communities[GRID],
        },
    )
    assert database.handle("volunteer.on_case_referred", referral, handlers.create_order) is True
    assert database.handle("volunteer.on_case_referred", referral, handlers.create_order) is False
    assert [t for t, _ in outbox(database)] == ["order_created"]
    assert get(database, "c-1").status == "pending_review"

    credit = ledger.service_credit(
        "o-9", "V0001", REF.catalogue.service(SERVICE), Decimal("1"), REF.catalogue.points, NOW
    )
    for _ in range(2):
        with uow(database) as u:
            u.ledger.post(dataclasses.replace(credit, transaction_id=str(ledger.uuid.uuid4())))
            u.commit()
    assert handlers.audit(uow(database))["transactions"] == 1


def test_a_referral_order_is_rated_with_its_tracking_code_and_carries_the_case_id(database):
    referral = new_envelope(
        type="case_referred_to_volunteers",
        source="dispatch",
        correlation_id="r-2",
        payload={
            "case_id": "c-2",
            "report_id": "r-2",
            "tracking_code": "HB-261201-QWERTY",
            "service_code": SERVICE,
            "description": "上门探访",
            "grid_code": GRID,
            "community_code": REF.grid_communities[GRID],
        },
    )
    database.handle("volunteer.on_case_referred", referral, handlers.create_order)
    order_id = get(database, "c-2").order_id
    handlers.review(uow(database), REF, order_id, COORDINATOR, True, None, None, NOW)
    vid = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW).volunteer_id
    handlers.accept(uow(database), REF, order_id, as_volunteer(vid), NOW)
    handlers.complete(uow(database), REF, order_id, as_volunteer(vid), Decimal("1"), "ok", ["https://x.example/1"], NOW)
    handlers.rate(uow(database), REF, order_id, 4, None, NOW, token="HB-261201-QWERTY")
    events = outbox(database)
    assert all(p["case_id"] == "c-2" for t, p in events if t in ("order_completed", "order_rated"))
    with database.engine.connect() as conn:
        correlations = set(conn.execute(select(orm.metadata.tables["outbox"].c.correlation_id)).scalars())
    assert correlations == {"r-2"}


# --- time-outs, re-dispatch, reminders ------------------------------------------------------------------------------


def test_an_unanswered_offer_goes_to_the_next_volunteer_then_to_the_coordinator(database):
    order_id = approved_order(database)
    first = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW).volunteer_id
    _, ranked = handlers.candidates(uow(database), REF, order_id, COORDINATOR)
    clock = Clock(NOW + timedelta(minutes=29))
    timers = scanner(database, clock)
    assert timers.fire_due(clock.now) == 0 and get(database, order_id).volunteer_id == first

    clock.now = NOW + timedelta(minutes=31)
    assert timers.fire_due(clock.now) == 1
    order = get(database, order_id)
    second = next(c.volunteer_id for c in ranked if c.volunteer_id != first)
    assert (order.status, order.volunteer_id, order.excluded, order.attempts) == ("offered", second, [first], 2)
    assert order.accept_by == clock.now + timedelta(minutes=30)
    declined = [p for t, p in outbox(database) if t == "order_declined"]
    assert declined == [
        {"order_id": order_id, "case_id": None, "volunteer_id": first, "reason": "no answer in time", "automatic": True}
    ]
    with pytest.raises(NotAllowed):
        handlers.accept(uow(database), REF, order_id, as_volunteer(first), clock.now)

    for _ in range(REF.catalogue.timing.max_dispatch_attempts):
        clock.now += timedelta(minutes=31)
        timers.fire_due(clock.now)
    order = get(database, order_id)
    assert order.status == "approved" and order.attempts == REF.catalogue.timing.max_dispatch_attempts
    assert len(order.excluded) == order.attempts
    assert [t for t, _ in outbox(database)][-1] == "order_unmatched"


def test_a_decline_goes_straight_to_the_next_best(database):
    order_id = approved_order(database)
    first = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW).volunteer_id
    order = handlers.decline(uow(database), REF, order_id, as_volunteer(first), "出差", NOW)
    assert order.status == "offered" and order.volunteer_id != first and order.excluded == [first]


def test_an_unclaimed_order_is_dispatched_automatically_when_the_claim_round_ends(database):
    order_id = approved_order(database)
    opened = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "claim", NOW)
    assert opened.status == "open" and opened.volunteer_id is None
    clock = Clock(NOW + timedelta(minutes=61))
    assert scanner(database, clock).fire_due(clock.now) == 1
    order = get(database, order_id)
    assert order.status == "offered" and order.attempts == 2
    events = outbox(database)
    assert [t for t, _ in events][-3:] == ["order_dispatched", "order_unclaimed", "order_dispatched"]
    assert events[-3][1]["mode"] == "claim" and events[-3][1]["volunteer_id"] is None
    assert events[-1][1]["mode"] == "volunteer" and events[-1][1]["volunteer_id"] == order.volunteer_id


def saturday_morning() -> datetime:
    day = NOW.astimezone(BEIJING)
    saturday = day + timedelta(days=(5 - day.weekday()) % 7 or 7)
    return saturday.replace(hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)


def test_a_volunteer_who_does_not_confirm_is_replaced_in_time_and_one_who_does_is_not(database):
    service_at = saturday_morning()
    late, punctual = approved_order(database, service_at), approved_order(database, service_at)
    who = {}
    for order_id in (late, punctual):
        vid = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW).volunteer_id
        handlers.accept(uow(database), REF, order_id, as_volunteer(vid), NOW)
        who[order_id] = vid
    clock = Clock(service_at - timedelta(hours=24))
    timers = scanner(database, clock)
    assert timers.fire_due(clock.now) == 2
    reminders = [p for t, p in outbox(database) if t == "order_reminder_due"]
    assert {p["order_id"] for p in reminders} == {late, punctual}
    assert all(p["confirm_by"] == (service_at - timedelta(hours=2)).isoformat() for p in reminders)

    handlers.confirm(uow(database), REF, punctual, as_volunteer(who[punctual]), clock.now + timedelta(hours=1))
    clock.now = service_at - timedelta(hours=2)
    assert timers.fire_due(clock.now) == 1
    replaced = get(database, late)
    assert replaced.status == "offered" and replaced.volunteer_id != who[late] and who[late] in replaced.excluded
    assert REF.volunteer(replaced.volunteer_id).available_at(service_at)
    assert get(database, punctual).status == "confirmed"
    declined = [p for t, p in outbox(database) if t == "order_declined"]
    assert [(p["volunteer_id"], p["reason"]) for p in declined] == [(who[late], "not confirmed before the service")]


def test_a_no_show_is_recorded_and_the_order_dispatched_again(database):
    order_id = approved_order(database)
    vid = handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW).volunteer_id
    handlers.accept(uow(database), REF, order_id, as_volunteer(vid), NOW)
    order = handlers.no_show(uow(database), REF, order_id, COORDINATOR, NOW + timedelta(hours=3))
    assert order.status == "offered" and order.volunteer_id != vid
    assert ("order_no_show", {"order_id": order_id, "case_id": None, "volunteer_id": vid, "reported_by": "C0001"}) in (
        outbox(database)
    )


def test_a_cancelled_order_stops_its_timers(database):
    order_id = approved_order(database)
    handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "auto", NOW)
    handlers.cancel(uow(database), order_id, "不需要了", NOW, who=COORDINATOR)
    clock = Clock(NOW + timedelta(hours=1))
    assert scanner(database, clock).fire_due(clock.now) == 0
    assert get(database, order_id).status == "cancelled"
    with pytest.raises(InvalidTransition):
        handlers.cancel(uow(database), order_id, "again", NOW, who=COORDINATOR)


# --- who sees what --------------------------------------------------------------------------------------------------


def test_a_volunteer_sees_only_their_own_orders_and_a_coordinator_only_their_unit(database):
    mine, other = approved_order(database), approved_order(database)
    vid = handlers.dispatch(uow(database), REF, mine, COORDINATOR, "auto", NOW).volunteer_id
    me = as_volunteer(vid)
    assert [o.order_id for o in handlers.list_orders(uow(database), me)] == [mine]
    with pytest.raises(NotAllowed):
        handlers.order_for(uow(database), other, me)
    with pytest.raises(NotAllowed):
        handlers.order_for(uow(database), mine, ELSEWHERE)  # GRID is in sub-centre 150302001
    assert handlers.list_orders(uow(database), ELSEWHERE) == []
    with pytest.raises(NotAllowed):
        handlers.statement(uow(database), REF, "V0002" if vid != "V0002" else "V0003", me)


# --- races (PostgreSQL, where they really happen) -----------------------------------------------------------------


def run_together(calls) -> list:
    """Start every call at the same moment; return each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("backend", ["postgresql"])
def test_exactly_one_volunteer_wins_a_claim_race(database, backend):
    order_id = approved_order(database)
    handlers.dispatch(uow(database), REF, order_id, COORDINATOR, "claim", NOW)
    _, ranked = handlers.candidates(uow(database), REF, order_id, COORDINATOR)
    racers = [c.volunteer_id for c in ranked[:10]]
    assert len(racers) == 10
    results = run_together(
        [lambda v=v: handlers.claim(uow(database), REF, order_id, as_volunteer(v), NOW) for v in racers]
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(e, OrderTaken | InvalidTransition) for e in losers), losers
    order = get(database, order_id)
    assert order.status == "accepted" and order.volunteer_id == winners[0].volunteer_id
    assert [t for t, _ in outbox(database)].count("order_accepted") == 1


def fund(database, volunteer_id: str, points: str) -> None:
    credit = ledger.Transaction(
        key=f"test-fund:{volunteer_id}",
        kind="service_credit",
        volunteer_id=volunteer_id,
        at=NOW,
        postings=(
            ledger.Posting(ledger.ISSUED, "points", -Decimal(points)),
            ledger.Posting(ledger.volunteer_account(volunteer_id), "points", Decimal(points)),
        ),
    )
    with uow(database) as u:
        u.ledger.post(credit)
        u.commit()


def with_rewards(*rewards: Reward):
    catalogue = dataclasses.replace(REF.catalogue, rewards={r.code: r for r in rewards})
    return dataclasses.replace(REF, catalogue=catalogue)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_redemptions_never_oversell_a_reward_nor_overdraw_a_balance(database, backend):
    ref = with_rewards(Reward("badge", "徽章", "Badge", Decimal("50.00"), 3))
    volunteers = ["V0001", "V0002", "V0003", "V0004"]
    for vid in volunteers:
        fund(database, vid, "100.00")
    calls = [
        lambda vid=vid, n=n: handlers.redeem(uow(database), ref, as_volunteer(vid), "badge", f"req-{vid}-{n}", NOW)
        for vid in volunteers
        for n in range(3)
    ]
    results = run_together(calls)
    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(done) == 3 and len(refused) == 9
    assert all(isinstance(e, OutOfStock | InsufficientPoints) for e in refused), refused
    with uow(database) as u:
        assert u.rewards.stock()["badge"] == (0, 3)
        balances = u.ledger.balances()
    spent = sum(Decimal("100.00") - balances.get(ledger.volunteer_account(v), "points") for v in volunteers)
    assert spent == Decimal("150.00") and balances.get(ledger.REDEEMED, "points") == Decimal("150.00")
    audit = handlers.audit(uow(database))
    assert audit["postings_sum"]["points"] == 0 and audit["negative_volunteer_balances"] == []


@pytest.mark.parametrize("backend", ["postgresql"])
def test_one_balance_spent_from_many_requests_at_once_stays_non_negative(database, backend):
    ref = with_rewards(Reward("oil", "食用油", "Oil", Decimal("60.00"), 100))
    fund(database, "V0001", "100.00")
    results = run_together(
        [lambda n=n: handlers.redeem(uow(database), ref, as_volunteer("V0001"), "oil", f"r-{n}", NOW) for n in range(6)]
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, InsufficientPoints) for r in results if isinstance(r, Exception))
    statement = handlers.statement(uow(database), ref, "V0001", as_volunteer("V0001"))
    assert statement["balances"]["points"] == Decimal("40.00")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_redemption_sent_many_times_at_once_counts_once(database, backend):
    ref = with_rewards(Reward("rice", "大米", "Rice", Decimal("30.00"), 10))
    fund(database, "V0001", "100.00")
    results = run_together(
        [lambda: handlers.redeem(uow(database), ref, as_volunteer("V0001"), "rice", "same-request", NOW)] * 5
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.transaction.transaction_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    with uow(database) as u:
        assert u.rewards.stock()["rice"] == (9, 1)
    with database.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(orm.ledger_transactions)).scalar_one()
    assert count == 2  # the funding and one redemption


def test_a_replayed_redemption_changes_nothing_and_an_overdraft_is_refused(database):
    ref = with_rewards(Reward("rice", "大米", "Rice", Decimal("30.00"), 10))
    fund(database, "V0001", "50.00")
    first = handlers.redeem(uow(database), ref, as_volunteer("V0001"), "rice", "req-000001", NOW)
    again = handlers.redeem(uow(database), ref, as_volunteer("V0001"), "rice", "req-000001", NOW)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.transaction.transaction_id == first.transaction.transaction_id
    assert again.points_balance == first.points_balance == Decimal("20.00")
    with pytest.raises(InsufficientPoints):
        handlers.redeem(uow(database), ref, as_volunteer("V0001"), "rice", "req-000002", NOW)
    with uow(database) as u:
        assert u.rewards.stock()["rice"] == (9, 1)
    assert [t for t, _ in outbox(database)] == ["points_redeemed"]
