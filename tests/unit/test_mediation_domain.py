"""Mediation's domain with no I/O: each channel's deadline arithmetic (calendar and working days, holidays,
extensions and their caps), eligibility, referral and transfer with one case code, sessions, outcomes and who may
read a confidential record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from gridlink.contracts import contract_for
from gridlink.refdata.reading import DEFAULT_DATA_DIR
from mediation.adapters.reference import load_reference
from mediation.domain.deadlines import CST, Period, WorkingCalendar
from mediation.domain.errors import (
    ConsentMissing,
    ExtensionRefused,
    InvalidRequest,
    NotEligible,
    NotFromThisPartner,
    UnknownReference,
    WindowClosed,
    WrongState,
)
from mediation.domain.model import DisputeCase, Reader
from mediation.domain.sessions import plan_session

REF = load_reference(DEFAULT_DATA_DIR)
CAT = REF.catalogue
CAL = REF.calendar
# Monday 2026-11-30, 10:00 in Wuhai
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=CST).astimezone(UTC)
REFERRAL = {
    "case_id": "c-1",
    "report_id": "r-1",
    "tracking_code": "HB-261130-ABCDEF",
    "description": "楼上漏水，邻居协商不成",
    "grid_code": "150302001001001",
    "community_code": "150302001001",
    "category_code": "neighbour_dispute",
}


def local(dt: datetime) -> tuple[date, int]:
    return dt.astimezone(CST).date(), dt.astimezone(CST).hour


def walk_in(channel="peoples_mediation", dispute_type="neighbour", **kw) -> DisputeCase:
    d = DisputeCase.open_walk_in(
        category_code="neighbour_dispute",
        dispute_type=dispute_type,
        description="邻里纠纷",
        channel=CAT.channel(channel),
        now=NOW,
        by="M001",
        calendar=CAL,
        **kw,
    )
    d.add_party("applicant", "甲", NOW, "M001", "13900000001")
    d.add_party("respondent", "乙", NOW, "M001", "13900000002")
    d.events.clear()
    return d


# ---- deadline arithmetic ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected_day"),
    [
        ("peoples_mediation", date(2026, 12, 30)),  # 30 calendar days, a Wednesday
        ("labour_mediation", date(2026, 12, 15)),  # 15 calendar days
        ("old_secretary_studio", date(2026, 12, 21)),  # 20 days land on Sunday 12-20: next working day
        ("labour_inspection", date(2027, 3, 1)),  # 60 working days: 23 in Dec, 21 in Jan (31st worked), 15 in Feb
        ("psychological_counselling", date(2026, 12, 3)),  # 3 working days
    ],
)
def test_each_channel_limit_from_acceptance(channel, expected_day):
    assert local(CAT.channel(channel).limit.end(NOW, CAL)) == (expected_day, 10)


def test_working_days_skip_the_spring_festival_and_count_the_adjusted_saturday():
    # Friday 2026-02-13; 14 Feb (Sat) is an adjusted working day, 15–23 Feb are the Spring Festival holiday.
    start = datetime(2026, 2, 13, 9, 0, tzinfo=CST)
    legal_aid = CAT.channel("legal_aid")
    assert legal_aid.respond == Period(7, "working")
    # 14 (Sat, worked), 24, 25, 26, 27, 28 (Sat, worked), 2 Mar
    assert legal_aid.respond.end(start, CAL).astimezone(CST).date() == date(2026, 3, 2)
    # with no holiday calendar the same seven working days end a week earlier
    assert legal_aid.respond.end(start, WorkingCalendar()).astimezone(CST).date() == date(2026, 2, 24)


def test_a_calendar_limit_ending_in_a_holiday_runs_to_the_next_working_day():
    start = datetime(2026, 9, 1, 15, 0, tzinfo=CST)
    assert Period(30).end(start, CAL).astimezone(CST).date() == date(2026, 10, 8)  # 10-01 is National Day
    assert Period(30).end(start).astimezone(CST).date() == date(2026, 10, 1)


def test_labour_arbitration_extends_once_by_at_most_15_days_with_the_directors_approval():
    d = walk_in("labour_mediation", "labour")
    d.transfer(CAT.channel("labour_arbitration"), "调解不成，申请仲裁", NOW, "M002", CAL)
    arbitration = CAT.channel("labour_arbitration")
    d.accept(arbitration, NOW, "partner.labour_arbitration", CAL)
    assert local(d.deadline_at) == (date(2027, 1, 14), 10)  # 45 days
    with pytest.raises(ExtensionRefused, match="director"):
        d.extend(arbitration, 10, NOW, "x", calendar=CAL)
    with pytest.raises(ExtensionRefused, match="at most 15"):
        d.extend(arbitration, 16, NOW, "x", approved_by="主任", approval_ref="劳仲延〔2026〕1号", calendar=CAL)
    d.events.clear()
    d.extend(arbitration, 15, NOW, "x", approved_by="主任", approval_ref="劳仲延〔2026〕1号", calendar=CAL)
    assert local(d.deadline_at) == (date(2027, 1, 29), 10)
    [(event_type, payload)] = d.events
    assert event_type == "mediation_deadline_extended" and payload["extension"] == 1
    with pytest.raises(ExtensionRefused, match="1 extension"):
        d.extend(arbitration, 1, NOW, "x", approved_by="主任", approval_ref="2", calendar=CAL)


def test_court_mediation_extension_needs_every_party_and_people_mediation_has_none():
    d = walk_in()
    with pytest.raises(ExtensionRefused, match="cannot be extended"):
        d.extend(CAT.channel("peoples_mediation"), 5, NOW, "M001", calendar=CAL)
    court = CAT.channel("micro_court_mediation")
    d.transfer(court, "转诉前调解", NOW, "M001", CAL)
    d.accept(court, NOW, "partner.court", CAL)
    applicant, respondent = (p.party_id for p in d.parties)
    with pytest.raises(ExtensionRefused, match="every party"):
        d.extend(court, 30, NOW, "court", consenting_party_ids=[applicant], calendar=CAL)
    before = d.deadline_at
    d.extend(court, 30, NOW, "court", consenting_party_ids=[applicant, respondent], calendar=CAL)
    assert d.deadline_at - before >= timedelta(days=30)


def test_a_working_day_limit_extends_in_working_days():
    d = walk_in("labour_mediation", "labour")
    inspection = CAT.channel("labour_inspection")
    d.transfer(inspection, "转劳动监察", NOW, "M003", CAL)
    before = d.deadline_at
    d.extend(inspection, 30, NOW, "M003", approved_by="局长", approval_ref="监察延1号", calendar=CAL)
    assert d.deadline_at == Period(30, "working").end(before, CAL)


def test_deadline_timers_speak_only_for_the_hop_and_deadline_they_were_set_for():
    d = walk_in()
    due = d.deadline_at
    assert d.deadline_reached("warning", 1, due, NOW) is True
    assert d.events[-1][0] == "mediation_deadline_approaching"
    assert d.deadline_reached("overdue", 1, due - timedelta(days=1), NOW) is False  # an old deadline
    d.transfer(CAT.channel("old_secretary_studio"), "转老书记工作室", NOW, "M001", CAL)
    assert d.deadline_reached("overdue", 1, due, NOW) is False  # an old hop
    assert d.deadline_reached("overdue", 2, d.deadline_at, NOW) is True
    assert d.events[-1][0] == "mediation_overdue"


# ---- channels, referral and transfer ------------------------------------------------------------------------------


def test_dispatch_referrals_start_where_their_category_routes():
    assert CAT.first_channel("wage_arrears_dispute").code == "labour_mediation"
    d = DisputeCase.open_from_referral(REFERRAL, CAT.first_channel("neighbour_dispute"), "r-1", NOW, CAT, CAL)
    assert (d.channel_code, d.state, d.dispute_type) == ("peoples_mediation", "accepted", "neighbour")
    [(event_type, payload)] = d.events
    wire = contract_for(event_type).dump(payload)
    assert wire["case_id"] == "c-1" and wire["state"] == "accepted" and "description" not in wire


@pytest.mark.parametrize(
    ("channel", "dispute_type", "extra", "message"),
    [
        ("labour_mediation", "neighbour", {}, "does not take neighbour"),
        ("old_secretary_studio", "neighbour", {"amount_yuan": Decimal("80000")}, "up to 50000"),
        ("labour_arbitration", "labour", {"known_on": date(2025, 10, 1)}, "limitation period of 365"),
        ("administrative_reconsideration", "neighbour", {}, "does not take"),
    ],
)
def test_eligibility_rules_refuse_what_a_channel_does_not_take(channel, dispute_type, extra, message):
    with pytest.raises(NotEligible, match=message):
        DisputeCase.open_walk_in(
            category_code="x",
            dispute_type=dispute_type,
            description="…",
            channel=CAT.channel(channel),
            now=NOW,
            by="M001",
            **extra,
        )


def test_a_transfer_keeps_the_case_code_and_shows_the_whole_path():
    d = walk_in("labour_mediation", "labour")
    code = d.case_code
    d.transfer(CAT.channel("labour_arbitration"), "调解不成", NOW, "M002", CAL)
    assert d.state == "referred" and d.case_code == code
    events = dict(d.events)
    assert events["mediation_transferred"]["path"] == ["labour_mediation", "labour_arbitration"]
    referral = events["dispute_referred"]
    assert referral["partner_code"] == "labour_arbitration" and referral["case_code"] == code
    # 5 days to accept (art. 29): Saturday 12-05, so the next working day
    assert local(referral["respond_by"])[0] == date(2026, 12, 7)
    arbitration = CAT.channel("labour_arbitration")
    with pytest.raises(NotFromThisPartner):
        d.check_partner("court", referral["referral_id"], arbitration)
    with pytest.raises(NotFromThisPartner):
        d.check_partner("labour_arbitration", "an-old-referral", arbitration)
    d.decline("不属于受理范围", NOW, "partner.labour_arbitration")
    d.transfer(CAT.channel("micro_court_mediation"), "转法院诉前调解", NOW, "M002", CAL)
    assert [(s.channel_code, s.state) for s in d.path] == [
        ("labour_mediation", "transferred"),
        ("labour_arbitration", "declined"),
        ("micro_court_mediation", "referred"),
    ]
    assert d.case_code == code and len({s.referral_id for s in d.path}) == 3


def test_a_concluded_case_cannot_move():
    d = walk_in()
    d.withdraw("双方自行和解", NOW, "M001")
    assert d.events[-1] == ("mediation_failed", {**d._fact(), "reason": "撤回：双方自行和解", "withdrawn": True})
    with pytest.raises(WrongState):
        d.transfer(CAT.channel("old_secretary_studio"), "x", NOW, "M001", CAL)


# ---- outcomes -----------------------------------------------------------------------------------------------------


def test_an_agreement_opens_a_30_day_confirmation_window_and_a_follow_up():
    d = walk_in()
    applicant = d.parties[0].party_id
    with pytest.raises(UnknownReference, match="no party"):
        d.reach_agreement("赔偿", [{"party_id": "nobody", "obligation": "x", "due_on": date(2026, 12, 10)}], NOW, "M")
    d.reach_agreement(
        "乙方赔偿甲方维修费 3000 元",
        [{"party_id": applicant, "obligation": "配合维修", "due_on": date(2026, 12, 10)}],
        NOW,
        "M001",
        CAL,
    )
    (event_type, payload) = d.events[-1]
    wire = contract_for(event_type).dump(payload)
    assert "3000" not in wire["summary"]  # terms stay in mediation
    assert local(payload["confirmation_due_at"])[0] == date(2026, 12, 30)
    assert local(payload["follow_up_due_at"]) == (date(2026, 12, 11), 9)
    with pytest.raises(WindowClosed):
        d.request_judicial_confirmation(NOW + timedelta(days=31), "M001")
    d.request_judicial_confirmation(NOW + timedelta(days=29), "M001")
    with pytest.raises(InvalidRequest, match="1 \\(very"):
        d.record_follow_up(True, 9, "", NOW, "M001")
    d.record_follow_up(True, 5, "已履行", NOW, "M001")
    assert d.state == "closed" and d.events[-1][1]["satisfaction"] == 5


# ---- sessions and confidentiality ---------------------------------------------------------------------------------


def test_sessions_sit_on_the_half_hour_grid_and_online_ones_need_every_partys_consent():
    d = walk_in()
    start = datetime(2026, 12, 2, 9, 0, tzinfo=CST)
    args = dict(starts_at=start, ends_at=start + timedelta(hours=1), now=NOW, mediator_id="M001")
    session = plan_session(d, CAT, set(REF.rooms), online=False, **args)
    assert session.room_code == "peoples_mediation"
    assert session.slots(30) == [
        ("room:peoples_mediation", start),
        ("mediator:M001", start),
        ("room:peoples_mediation", start + timedelta(minutes=30)),
        ("mediator:M001", start + timedelta(minutes=30)),
    ]
    with pytest.raises(InvalidRequest, match="grid"):
        plan_session(d, CAT, set(REF.rooms), online=False, **{**args, "starts_at": start + timedelta(minutes=10)})
    with pytest.raises(InvalidRequest, match="does not serve"):
        plan_session(d, CAT, set(REF.rooms), online=False, **{**args, "mediator_id": "M004"})
    d.record_consent(d.parties[0].party_id, True, NOW, "M001")
    with pytest.raises(ConsentMissing, match=d.parties[1].party_id):
        plan_session(d, CAT, set(REF.rooms), online=True, **args)
    d.record_consent(d.parties[1].party_id, True, NOW, "M001")
    online = plan_session(d, CAT, set(REF.rooms), online=True, **args)
    assert online.room_code == "online_mediation"
    assert online.events[0][1]["party_recipient_ids"] == [p.recipient_id for p in d.parties]


def test_only_the_mediator_the_channel_staff_and_the_parties_may_read_the_record():
    d = walk_in()
    d.assign_mediator("M002", NOW, "M001")
    channel = CAT.channel(d.channel_code)
    allowed = [
        Reader("staff", "M002", "mediator", "somewhere"),
        Reader("staff", "M009", "mediator", "peoples_mediation"),
        Reader("party", "party:x", "party", party_id=d.parties[1].party_id),
    ]
    refused = [
        Reader("staff", "M006", "mediator", "old_secretary_studio"),
        Reader("staff", "D1", "district_operator", "150302"),
        Reader("staff", "A1", "admin", "150302"),
        Reader("staff", "C1", "department", "court"),
        Reader("party", "party:y", "party", party_id="someone-else"),
    ]
    assert [d.may_read(r, channel) for r in allowed] == [True] * 3
    assert [d.may_read(r, channel) for r in refused] == [False] * 5
    d.transfer(CAT.channel("micro_court_mediation"), "转诉前调解", NOW, "M002", CAL)
    assert d.may_read(Reader("staff", "C1", "department", "court"), CAT.channel(d.channel_code))
