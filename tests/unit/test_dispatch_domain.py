"""dispatch's domain with no I/O: the working-day calendar, the routing table, every lifecycle transition and the
forbidden ones, supervision and escalation driven by a clock the test holds, and performance figures."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from dispatch.adapters.reference import ROUTING_FILE, LiveReference, load_reference
from dispatch.domain import performance
from dispatch.domain.deadlines import CST, Limit, add_working_days
from dispatch.domain.errors import (
    CannotEscalate,
    InvalidInput,
    InvalidTransition,
    NoHandler,
    NotAllowed,
    UnknownUnit,
)
from dispatch.domain.model import Case
from dispatch.domain.routing import Place, RoutingTable, Rule
from gridlink.contracts import contract_for
from gridlink.refdata import DEFAULT_DATA_DIR

REF = load_reference(DEFAULT_DATA_DIR)
CAL, POLICY, DIRECTORY = REF.calendar, REF.policy, REF.directory
GRID = "150302001001001"
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 in Wuhai
REPORT = {
    "report_id": "7a1c6e0e-0000-4000-8000-000000000001",
    "tracking_code": "HB-261130-ABCDEF",
    "category_code": "illegal_parking",
    "category_kind": "general",
    "urgency": "normal",
    "description": "小区门口长期违停",
    "grid_code": GRID,
    "community_code": GRID[:12],
    "sub_centre_code": GRID[:9],
}


@dataclass(frozen=True)
class Staff:
    user_id: str
    role: str
    unit: str

    def covers(self, code):
        return self.role == "admin" or (bool(code) and code.startswith(self.unit))


WORKER = Staff(DIRECTORY.grid_handlers[GRID].staff_id, "grid_worker", GRID)
OTHER_WORKER = Staff("S9999", "grid_worker", "150302001001002")
COMMUNITY = Staff("C1", "community_operator", GRID[:12])
SUB_CENTRE = Staff("B1", "sub_centre_operator", GRID[:9])
OTHER_SUB_CENTRE = Staff("B2", "sub_centre_operator", "150302002")
DISTRICT = Staff("D1", "district_operator", "150302")
CITY = Staff("CM1", "department", "city_management")
HOUSING = Staff("HS1", "department", "housing")


def new_case(now=NOW, **report) -> Case:
    report = {**REPORT, **report}
    case = Case.open_from_report(report, report["report_id"], now, REF.category_departments[report["category_code"]])
    rule, assignment = REF.routing.route(case.category_code, case.urgency, case.place, DIRECTORY)
    case.assign(assignment, POLICY, CAL, now, reason=rule.name)
    return case


def types(case: Case) -> list[str]:
    found = [t for t, _ in case.events]
    for event_type, payload in case.events:
        contract_for(event_type).dump(payload)  # every raised event fits its contract
    case.events.clear()
    return found


# ---- the working-day calendar --------------------------------------------------------------------------------


def test_working_days_skip_the_weekend():
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=CST)
    assert add_working_days(friday, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=CST)
    assert add_working_days(friday, 5) == datetime(2026, 12, 4, 10, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # Spring Festival 2026: 15–23 February off; Saturday 14 and Saturday 28 February are worked (调休).
        (date(2026, 2, 13), 1, date(2026, 2, 14)),
        (date(2026, 2, 13), 2, date(2026, 2, 24)),
        (date(2026, 2, 27), 1, date(2026, 2, 28)),
        # National Day 2026: 1–7 October off; Sunday 20 September and Saturday 10 October are worked.
        (date(2026, 9, 19), 1, date(2026, 9, 20)),
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        # Labour Day 2026 (1–5 May off, Saturday 9 May worked) and New Year 2027 (provisional).
        (date(2026, 4, 30), 1, date(2026, 5, 6)),
        (date(2026, 12, 31), 1, date(2027, 1, 4)),
    ],
)
def test_working_days_follow_the_official_calendar_with_adjusted_weekends(start, days, expected):
    opened = datetime.combine(start, datetime.min.time(), CST).replace(hour=10)
    due = CAL.add(opened, Limit(working_days=days))
    assert due.date() == expected and due.hour == 10


def test_the_calendar_knows_holidays_and_worked_weekends():
    assert not CAL.is_working_day(date(2026, 10, 5))  # a Monday in the National Day week
    assert CAL.is_working_day(date(2026, 10, 10))  # a Saturday worked in exchange
    assert CAL.is_working_day(date(2026, 12, 1)) and not CAL.is_working_day(date(2026, 12, 5))


def test_limits_by_class_and_urgency():
    opened = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    urgent = POLICY.deadlines("fire_hazard", "critical", opened, CAL)
    assert urgent.handling_class == "urgent" and urgent.resolution_at == opened + timedelta(hours=2)
    assert urgent.acceptance_at == opened + timedelta(minutes=30)
    simple = POLICY.deadlines("street_lamp", "low", opened, CAL)
    assert simple.handling_class == "simple" and simple.resolution_at.date() == date(2026, 12, 1)
    ordinary = POLICY.deadlines("noise", "normal", opened, CAL)
    assert ordinary.resolution_at.astimezone(CST).date() == date(2026, 12, 9)  # 7 working days
    complex_ = POLICY.deadlines("illegal_construction", "normal", opened, CAL)
    assert complex_.resolution_at.astimezone(CST).date() == date(2026, 12, 28)  # 20 working days
    assert POLICY.due_soon_at(opened, urgent.resolution_at) == opened + timedelta(minutes=96)
    with pytest.raises(ValueError):
        Limit(hours=1, working_days=1)


# ---- routing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "urgency", "tier", "unit"),
    [
        ("illegal_parking", "normal", "grid", GRID),  # small matters stay in the grid
        ("neighbour_dispute", "normal", "grid", GRID),
        ("fire_hazard", "critical", "department", "fire"),  # life safety straight to the department
        ("garbage", "critical", "district", "150302"),  # any critical matter to the command centre
        ("wage_arrears_dispute", "high", "sub_centre", GRID[:9]),
        ("food_safety", "high", "department", "market_regulation"),
    ],
)
def test_routing_rules_pick_the_first_tier(category, urgency, tier, unit):
    place = Place(GRID, GRID[:12], GRID[:9], REF.category_departments[category])
    _, assignment = REF.routing.route(category, urgency, place, DIRECTORY)
    assert (assignment.tier, assignment.unit_code) == (tier, unit)


def test_a_category_off_the_grid_admission_list_skips_the_grid():
    table = RoutingTable(
        rules=(Rule("all to the grid", "grid"),),
        grid_admission=frozenset({"garbage"}),
        not_admitted=Rule("not admitted", "department", unit="category_department"),
    )
    place = Place(GRID, GRID[:12], GRID[:9], "city_management")
    assert table.route("garbage", "low", place, DIRECTORY)[1].tier == "grid"
    rule, assignment = table.route("illegal_construction", "normal", place, DIRECTORY)
    assert rule.name == "not admitted" and (assignment.tier, assignment.unit_code) == ("department", "city_management")


def test_grid_workers_are_supervised_by_their_leader_and_units_worked_from_desks():
    _, grid = REF.routing.route("garbage", "low", Place(GRID, GRID[:12], GRID[:9]), DIRECTORY)
    assert grid.assignee_role == "full_time_worker" and grid.supervisor_id == DIRECTORY.grid_leaders[GRID]
    sub_centre = DIRECTORY.assignment("sub_centre", Place(GRID, GRID[:12], GRID[:9]))
    assert sub_centre.assignee_id == f"desk:{GRID[:9]}" and sub_centre.supervisor_id == "desk:150302"
    with pytest.raises(NoHandler):
        DIRECTORY.assignment("grid", Place("150302009999999", "150302009999", "150302009"))
    with pytest.raises(UnknownUnit):
        DIRECTORY.assignment("department", Place(GRID, GRID[:12], GRID[:9]), "ministry_of_magic")
    with pytest.raises(CannotEscalate):
        DIRECTORY.next_up("district", Place(GRID, GRID[:12], GRID[:9]))


# ---- the lifecycle ------------------------------------------------------------------------------------------


def test_the_main_line_from_report_to_closed():
    case = new_case()
    assert (case.state, case.tier, case.assignee_id) == ("assigned", "grid", WORKER.user_id)
    assert types(case) == ["case_assigned"]
    case.accept(WORKER, NOW + timedelta(minutes=10))
    case.start(WORKER, NOW + timedelta(hours=1), "visited the site; spoke with the owner")
    case.resolve(WORKER, "the car was moved; a no-parking sign is up", POLICY, NOW + timedelta(hours=3))
    assert types(case) == ["case_accepted", "case_started", "case_resolved"]
    assert case.state == "feedback"
    case.evaluate("satisfied", "很快", DIRECTORY, POLICY, CAL, NOW + timedelta(hours=5))
    assert types(case) == ["case_evaluated", "case_closed"]
    assert [h.to_state for h in case.history] == [
        "received",
        "assigned",
        "accepted",
        "in_progress",
        "resolved",
        "feedback",
        "evaluated",
        "closed",
    ]
    assert case.outcome == "resolved" and case.period.rating == "satisfied"
    # Closing cancels every deadline timer and the evaluation timer.
    cancelled = {(op.kind, op.key) for op in case.timer_ops if op.due_at is None}
    assert ("evaluation_timeout", case.case_id) in cancelled
    assert ("case_overdue", f"{case.case_id}:1:resolution") in cancelled


def test_resolved_events_ask_the_reporter_to_rate():
    case = new_case()
    case.accept(WORKER, NOW)
    case.events.clear()
    case.resolve(WORKER, "done", POLICY, NOW)
    (_, payload), *_ = case.events
    assert payload["reporter_recipient_id"] == f"reporter:{REPORT['report_id']}"
    timer = next(op for op in case.timer_ops if op.kind == "evaluation_timeout")
    assert timer.due_at == NOW + timedelta(days=7)


def test_return_then_redispatch_to_a_department():
    case = new_case()
    case.events.clear()
    case.return_case(WORKER, "this is a road works permit matter", DIRECTORY, NOW)
    assert (case.state, case.tier, case.unit_code) == ("returned", "community", GRID[:12])
    case.redispatch(COMMUNITY, "city_management", "路政问题", DIRECTORY, POLICY, CAL, NOW)
    assert (case.state, case.tier, case.unit_code, case.assignee_id) == (
        "assigned",
        "department",
        "city_management",
        "desk:city_management",
    )
    assert types(case) == ["case_returned", "case_assigned"]
    assert [p.end_reason for p in case.periods] == ["returned", None]


def test_escalation_goes_one_tier_up_with_fresh_deadlines():
    case = new_case()
    case.accept(WORKER, NOW)
    case.events.clear()
    later = NOW + timedelta(days=1)
    case.escalate(WORKER, "needs the workstation's authority", DIRECTORY, POLICY, CAL, later)
    assert (case.state, case.tier, case.unit_code) == ("assigned", "community", GRID[:12])
    assert case.acceptance_deadline_at > later
    (event_type, payload), *_ = case.events
    assert event_type == "case_escalated" and payload["from_tier"] == "grid" and payload["automatic"] is False
    types(case)
    # A superior may also pull a case up: the sub-centre takes it from the community.
    case.escalate(SUB_CENTRE, "the sub-centre takes it", DIRECTORY, POLICY, CAL, later)
    assert case.tier == "sub_centre"


def test_transfer_between_departments():
    case = new_case(category_code="fire_hazard", urgency="critical")
    assert (case.tier, case.unit_code) == ("department", "fire")
    fire = Staff("F1", "department", "fire")
    case.accept(fire, NOW)
    case.events.clear()
    case.transfer(fire, "housing", "a building-services fault, not a fire", DIRECTORY, POLICY, CAL, NOW)
    assert (case.state, case.unit_code) == ("assigned", "housing")
    assert types(case) == ["case_transferred", "case_assigned"]
    case.accept(HOUSING, NOW)


def test_suspension_stops_the_clock_and_resumes_it():
    case = new_case()
    case.accept(WORKER, NOW)
    due = case.deadline_at
    case.suspend(WORKER, "waiting for the owner to return from abroad", NOW + timedelta(hours=1))
    assert case.state == "suspended"
    assert all(op.due_at is None for op in case.timer_ops[-6:])  # all deadline timers cancelled
    case.resume(WORKER, POLICY, NOW + timedelta(days=3, hours=1))
    assert case.state == "accepted" and case.deadline_at == due + timedelta(days=3)
    assert types(case)[-2:] == ["case_suspended", "case_resumed"]


def test_unsatisfied_reopens_once_then_goes_to_the_sub_centre():
    case = new_case()
    for attempt in range(2):
        case.accept(WORKER, NOW)
        case.resolve(WORKER, f"attempt {attempt}", POLICY, NOW)
        case.evaluate("unsatisfied", "还是有车", DIRECTORY, POLICY, CAL, NOW)
    assert (case.state, case.tier, case.unit_code) == ("assigned", "sub_centre", GRID[:9])
    assert case.reopen_count == 1 and case.periods[0].reopened and case.periods[0].rating == "unsatisfied"
    found = types(case)
    assert found.count("case_reopened") == 1 and found[-1] == "case_escalated"


def test_no_answer_counts_as_satisfied():
    case = new_case()
    case.accept(WORKER, NOW)
    case.resolve(WORKER, "done", POLICY, NOW)
    case.evaluate("satisfied", None, DIRECTORY, POLICY, CAL, NOW + timedelta(days=7), by_default=True)
    assert case.state == "closed" and case.history[-2].actor == "system:dispatch"
    evaluated = next(p for t, p in case.events if t == "case_evaluated")
    assert evaluated["by_default"] is True


def test_a_referred_case_closes_when_the_outcome_arrives():
    case = new_case(category_code="neighbour_dispute", category_kind="dispute")
    assert types(case) == ["case_assigned", "case_referred_to_mediation"]
    case.note("mediation failed once", NOW, "mediation:mediation_failed")
    assert case.state == "assigned"
    assert case.close_by_referral("mediated", "agreement A-1", NOW, "mediation:agreement_reached")
    assert case.state == "closed" and case.outcome == "mediated"
    assert not case.close_by_referral("mediated", "again", NOW, "mediation:agreement_reached")  # once only


# ---- forbidden transitions ----------------------------------------------------------------------------------


def _accepted():
    case = new_case()
    case.accept(WORKER, NOW)
    return case


@pytest.mark.parametrize(
    ("make", "act", "error"),
    [
        (new_case, lambda c: c.accept(OTHER_WORKER, NOW), NotAllowed),  # another grid's worker
        (new_case, lambda c: c.accept(COMMUNITY, NOW), NotAllowed),  # the wrong tier's role
        (new_case, lambda c: c.accept(CITY, NOW), NotAllowed),
        (new_case, lambda c: c.resolve(WORKER, "done", POLICY, NOW), InvalidTransition),  # not accepted
        (new_case, lambda c: c.start(WORKER, NOW), InvalidTransition),
        (new_case, lambda c: c.return_case(WORKER, "  ", DIRECTORY, NOW), InvalidInput),  # no reason
        (_accepted, lambda c: c.accept(WORKER, NOW), InvalidTransition),  # twice
        (_accepted, lambda c: c.return_case(WORKER, "not mine", DIRECTORY, NOW), InvalidTransition),
        (_accepted, lambda c: c.transfer(WORKER, "housing", "x", DIRECTORY, POLICY, CAL, NOW), NotAllowed),
        (_accepted, lambda c: c.resume(WORKER, POLICY, NOW), InvalidTransition),
        (_accepted, lambda c: c.evaluate("satisfied", None, DIRECTORY, POLICY, CAL, NOW), InvalidTransition),
        (_accepted, lambda c: c.escalate(OTHER_SUB_CENTRE, "x", DIRECTORY, POLICY, CAL, NOW), NotAllowed),
        (_accepted, lambda c: c.press(COMMUNITY, "", NOW), InvalidInput),
        (_accepted, lambda c: c.press(OTHER_WORKER, "hurry", NOW), NotAllowed),
        (new_case, lambda c: c.redispatch(COMMUNITY, GRID, None, DIRECTORY, POLICY, CAL, NOW), NotAllowed),
    ],
)
def test_forbidden_transitions(make, act, error):
    case = make()
    before = (case.state, case.unit_code, len(case.history))
    with pytest.raises(error):
        act(case)
    assert (case.state, case.unit_code, len(case.history)) == before


def test_ratings_are_checked_and_the_top_tier_cannot_escalate():
    case = _accepted()
    case.resolve(WORKER, "done", POLICY, NOW)
    with pytest.raises(InvalidInput):
        case.evaluate("meh", None, DIRECTORY, POLICY, CAL, NOW)
    top = new_case(urgency="critical")
    assert top.tier == "district"
    with pytest.raises(CannotEscalate):
        top.escalate(DISTRICT, "nowhere to go", DIRECTORY, POLICY, CAL, NOW)


def test_visibility_follows_the_organisation_scope():
    case = new_case()
    assert case.visible_to(WORKER) and case.visible_to(COMMUNITY) and case.visible_to(DISTRICT)
    assert not case.visible_to(OTHER_WORKER) and not case.visible_to(OTHER_SUB_CENTRE)
    assert not case.visible_to(CITY)


# ---- deadlines, supervision, escalation: the clock is the test's ---------------------------------------------


def test_overdue_then_supervision_then_automatic_escalation():
    case = new_case(category_code="noise")  # ordinary: sign for within 1 working day, 2 more days of grace
    case.events.clear()
    armed = {op.kind: op for op in case.timer_ops if op.key.endswith(":acceptance") and op.due_at}
    assert armed["case_overdue"].due_at == case.acceptance_deadline_at == NOW + timedelta(days=1)
    assert armed["case_due_soon"].due_at == NOW + timedelta(hours=24 * 0.8)

    assert case.warn_due_soon("acceptance", 1, armed["case_due_soon"].due_at)
    assert case.supervise("acceptance", 1, POLICY, CAL, case.acceptance_deadline_at)
    record = case.supervisions[-1]
    assert record.supervisor_id == DIRECTORY.grid_leaders[GRID] and record.assignee_id == WORKER.user_id
    overdue = next(p for t, p in case.events if t == "case_overdue")
    assert overdue["supervision_id"] == record.supervision_id and overdue["stage"] == "acceptance"
    escalation = next(op for op in case.timer_ops if op.kind == "case_escalation" and op.due_at)
    assert escalation.due_at == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # + 2 working days of grace
    assert types(case) == ["case_due_soon", "case_overdue"]

    assert case.escalate_overdue("acceptance", 1, DIRECTORY, POLICY, CAL, escalation.due_at)
    assert (case.tier, case.unit_code) == ("community", GRID[:12])
    escalated = next(p for t, p in case.events if t == "case_escalated")
    assert escalated["automatic"] is True and escalated["from_unit_code"] == GRID
    assert case.periods[0].acceptance_overdue


def test_stale_timers_do_nothing():
    case = new_case()
    case.accept(WORKER, NOW)
    case.events.clear()
    assert not case.warn_due_soon("acceptance", 1, NOW)  # already signed for
    assert not case.supervise("acceptance", 1, POLICY, CAL, NOW)
    case.escalate(WORKER, "up", DIRECTORY, POLICY, CAL, NOW)
    assert not case.supervise("resolution", 1, POLICY, CAL, NOW)  # the grid's period is over
    assert case.supervise("resolution", 2, POLICY, CAL, NOW)
    assert case.events[-1][0] == "case_overdue" and case.supervisions[-1].unit_code == GRID[:12]


# ---- performance --------------------------------------------------------------------------------------------


def _period(unit, tier="grid", **kw):
    base = {
        "tier": tier,
        "unit_code": unit,
        "assigned_at": NOW,
        "acceptance_due": NOW + timedelta(hours=4),
        "resolution_due": NOW + timedelta(days=2),
        "accepted_at": None,
        "resolved_at": None,
        "ended_at": None,
        "acceptance_overdue": False,
        "resolution_overdue": False,
        "rating": None,
        "reopened": False,
    }
    return {**base, **kw}


def test_performance_figures_and_roll_up():
    periods = [
        _period(GRID, accepted_at=NOW, resolved_at=NOW + timedelta(hours=10), rating="satisfied"),
        _period(
            GRID,
            accepted_at=NOW + timedelta(hours=5),
            resolved_at=NOW + timedelta(days=3),
            rating="unsatisfied",
            reopened=True,
            acceptance_overdue=True,
            resolution_overdue=True,
        ),
        _period("150302001001002"),  # still open, not yet due
        _period(GRID[:12], tier="community", accepted_at=NOW),
        _period("housing", tier="department", accepted_at=NOW),
    ]
    later = NOW + timedelta(days=1)
    grids = {f.unit_code: f for f in performance.by_unit(periods, "grid", later)}
    mine = grids[GRID]
    assert (mine.received, mine.overdue) == (2, 1)
    assert mine.on_time_acceptance_rate == 0.5 and mine.on_time_resolution_rate == 0.5
    assert mine.average_handling_hours == 41.0 and mine.satisfaction_rate == 0.5 and mine.reopen_rate == 0.5
    idle = grids["150302001001002"]  # never signed for, and its acceptance deadline has passed
    assert idle.on_time_acceptance_rate == 0.0 and idle.on_time_resolution_rate is None
    community = performance.by_unit(periods, "community", later)
    assert [(f.unit_code, f.received) for f in community] == [(GRID[:12], 4)]
    assert [f.unit_code for f in performance.by_unit(periods, "department", later)] == ["housing"]
    with pytest.raises(InvalidInput):
        performance.by_unit(periods, "planet", later)


# ---- rules change without a release ------------------------------------------------------------------------


def test_edited_rules_are_picked_up_and_a_broken_edit_keeps_the_rules_in_force(tmp_path):
    data = tmp_path / "haibowan"
    shutil.copytree(DEFAULT_DATA_DIR, data)
    live = LiveReference(data)
    place = Place(GRID, GRID[:12], GRID[:9], "city_management")
    assert live.current().routing.route("garbage", "low", place, DIRECTORY)[1].tier == "grid"

    rules = json.loads((data / ROUTING_FILE).read_text())
    rules["rules"].insert(0, {"name": "garbage to the workstation", "category": ["garbage"], "tier": "community"})
    (data / ROUTING_FILE).write_text(json.dumps(rules, ensure_ascii=False))
    os.utime(data / ROUTING_FILE, ns=(1, 10**18))  # a new modification time, whatever the file system's resolution
    assert live.current().routing.route("garbage", "low", place, DIRECTORY)[1].tier == "community"

    (data / ROUTING_FILE).write_text("{ not json")
    os.utime(data / ROUTING_FILE, ns=(1, 2 * 10**18))
    assert live.current().routing.route("garbage", "low", place, DIRECTORY)[1].tier == "community"
