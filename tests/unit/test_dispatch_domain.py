"""dispatch's domain with no I/O: working-day deadlines, first assignment, the case and its events."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dispatch.domain.deadlines import CST, add_working_days, deadline_for
from dispatch.domain.errors import NoHandler
from dispatch.domain.model import Case
from dispatch.domain.routing import Handler, first_assignment
from gridlink.contracts import contract_for

FRIDAY_10_CST = datetime(2026, 11, 27, 10, 0, tzinfo=CST)
REPORT = {
    "report_id": "r-1",
    "tracking_code": "HB-261129-ABCDEF",
    "category_code": "neighbour_dispute",
    "category_kind": "dispute",
    "urgency": "normal",
    "description": "楼上漏水引发邻里纠纷",
    "grid_code": "150302001001001",
    "community_code": "150302001001",
    "sub_centre_code": "150302001",
}
HANDLERS = {"150302001001001": Handler("S0100", "full_time_worker", "李娜")}


def test_working_days_skip_the_weekend():
    assert add_working_days(FRIDAY_10_CST, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=CST)  # Monday
    assert add_working_days(FRIDAY_10_CST, 5) == datetime(2026, 12, 4, 10, 0, tzinfo=CST)


def test_holidays_and_adjusted_working_weekends_are_honoured():
    monday = date(2026, 11, 30)
    assert add_working_days(FRIDAY_10_CST, 1, holidays=frozenset({monday})).date() == date(2026, 12, 1)
    saturday = date(2026, 11, 28)
    assert add_working_days(FRIDAY_10_CST, 1, workdays=frozenset({saturday})).date() == saturday


def test_work_received_at_the_weekend_counts_from_monday():
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=CST)
    assert add_working_days(saturday, 1).date() == date(2026, 11, 30)


def test_deadlines_tighten_with_urgency_and_keep_the_callers_zone():
    opened = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert deadline_for("critical", opened) < deadline_for("normal", opened) < deadline_for("low", opened)
    assert deadline_for("normal", opened).tzinfo == UTC


def test_a_new_case_goes_to_the_grids_full_time_worker():
    assignment = first_assignment("150302001001001", HANDLERS)
    assert (assignment.tier, assignment.assignee_id, assignment.unit_code) == ("grid", "S0100", "150302001001001")
    with pytest.raises(NoHandler):
        first_assignment("150302009999999", HANDLERS)


@pytest.mark.parametrize(
    ("kind", "referral"),
    [("dispute", "case_referred_to_mediation"), ("volunteer", "case_referred_to_volunteers"), ("general", None)],
)
def test_an_assigned_case_records_history_and_raises_its_events(kind, referral):
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    case = Case.open_from_report({**REPORT, "category_kind": kind}, "r-1", now)
    case.assign(first_assignment(case.grid_code, HANDLERS), deadline_for(case.urgency, now), now)
    assert case.state == "assigned"
    assert [(h.action, h.to_state) for h in case.history] == [("receive", "received"), ("assign", "assigned")]
    types = [t for t, _ in case.events]
    assert types == ["case_assigned"] + ([referral] if referral else [])
    for event_type, payload in case.events:
        contract_for(event_type).dump(payload)  # every raised event fits its contract
    with pytest.raises(ValueError, match="cannot be assigned"):
        case.assign(first_assignment(case.grid_code, HANDLERS), now, now)
